import { describeWithEmulators } from './emulator-env.js';

describeWithEmulators('the emulators started by the global setup', () => {
  it('answer on loopback', async () => {
    for (const host of [process.env.FIRESTORE_EMULATOR_HOST, process.env.PUBSUB_EMULATOR_HOST]) {
      expect(host).toMatch(/^127\.0\.0\.1:\d+$/);
      const response = await fetch(`http://${host}/`);
      expect(response.ok).toBe(true);
    }
  });
});
