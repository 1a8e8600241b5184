/** Stops the emulators the global setup started (whole process groups), and says loudly what was not tested. */
export default async function globalTeardown(): Promise<void> {
  const pids = (process.env.LLMOPS_EMULATOR_PIDS ?? '').split(',').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (process.env.LLMOPS_EMULATORS_MISSING) {
    const line = '!'.repeat(100);
    console.warn(
      `\n${line}\nNOT TESTED: the Firestore store and the Pub/Sub queue. gcloud and its emulators are not installed on this machine,\nso their contract, crash and fleet tests were skipped. Install google-cloud-cli-firestore-emulator and\ngoogle-cloud-cli-pubsub-emulator to run them.\n${line}\n`,
    );
  }
}
