/** True when the global setup started (or found) the emulators; tests needing them skip otherwise, loudly at the end. */
export const emulatorsAvailable = Boolean(process.env.FIRESTORE_EMULATOR_HOST && process.env.PUBSUB_EMULATOR_HOST) && !process.env.LLMOPS_EMULATORS_MISSING;

/** `describe` where the emulators run; skipped (and reported by the global teardown) where they cannot. */
export const describeWithEmulators: typeof describe = emulatorsAvailable ? describe : (describe.skip as typeof describe);

/** Wipes every document of the emulator's project between tests. */
export async function clearFirestore(projectId: string): Promise<void> {
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  if (!host) return;
  await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
}
export const EMULATOR_PROJECT = 'llmops-gate-test';
