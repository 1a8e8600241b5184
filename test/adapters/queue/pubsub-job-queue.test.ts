import { randomUUID } from 'node:crypto';
import { Duration, PubSub, type Message } from '@google-cloud/pubsub';
import type { JobContext } from '../../../src/ports.js';
import { PubSubJobQueue, type PubSubJobQueueOptions } from '../../../src/adapters/queue/pubsub-job-queue.js';
import { describeWithEmulators, EMULATOR_PROJECT } from '../../support/emulator-env.js';
import { queueContract, sleep, waitFor, type TestJob } from './queue-contract.js';

/**
 * Against the official Pub/Sub emulator, which honours the dead-letter policy (with `deliveryAttempt`
 * counting deliveries), lease extensions by the client and, coarsely, the retry policy: with one
 * set, its redeliveries from the third on wait about 2 s even when maximumBackoff is shorter. The
 * contract runs without a retry policy (immediate redelivery, as a zero backoff means) to stay fast;
 * 10 s is Pub/Sub's shortest ack deadline.
 */
function names(): Pick<PubSubJobQueueOptions, 'topic' | 'subscription' | 'deadLetterTopic'> {
  const suffix = randomUUID().slice(0, 8);
  return { topic: `jobs-${suffix}`, subscription: `jobs-${suffix}-worker`, deadLetterTopic: `jobs-${suffix}-dead` };
}

const timing = { maxAttempts: 5, minBackoffS: 0, maxBackoffS: 0, ackDeadlineS: 10 };

async function deleteResources(resources: ReturnType<typeof names>): Promise<void> {
  const client = new PubSub({ projectId: EMULATOR_PROJECT });
  await Promise.allSettled([
    client.subscription(resources.subscription).delete(),
    client.subscription(`${resources.deadLetterTopic}-read`).delete(),
  ]);
  await Promise.allSettled([client.topic(resources.topic).delete(), client.topic(resources.deadLetterTopic).delete()]);
  await client.close();
}

queueContract(describeWithEmulators, 'PubSubJobQueue', async () => {
  const resources = names();
  const reader = new PubSubJobQueue<TestJob>({ projectId: EMULATOR_PROJECT, ...resources, ...timing });
  await reader.ensureResources();
  const dead: TestJob[] = [];
  return {
    maxAttempts: timing.maxAttempts,
    quietMs: 1_000,
    open: async ({ concurrency }) => new PubSubJobQueue<TestJob>({ projectId: EMULATOR_PROJECT, ...resources, ...timing, concurrency }),
    deadLetters: async () => {
      dead.push(...(await reader.takeDeadLetters()));
      return [...dead];
    },
    dispose: async () => {
      await reader.close();
      await deleteResources(resources);
    },
  };
});

describeWithEmulators('PubSubJobQueue', () => {
  let resources: ReturnType<typeof names>;
  let client: PubSub;
  const queues: PubSubJobQueue<TestJob>[] = [];

  function open(overrides: Partial<PubSubJobQueueOptions> = {}): PubSubJobQueue<TestJob> {
    const queue = new PubSubJobQueue<TestJob>({ projectId: EMULATOR_PROJECT, ...resources, ...timing, ...overrides });
    queues.push(queue);
    return queue;
  }

  beforeEach(() => {
    resources = names();
    client = new PubSub({ projectId: EMULATOR_PROJECT });
  });

  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.close({ abandon: true });
    await client.close();
    await deleteResources(resources);
  });

  it('creates its resources with the configured policies, and brings them up to date when run again', async () => {
    await open({ maxAttempts: 7 }).ensureResources();
    await open({ maxAttempts: 9, ackDeadlineS: 30, minBackoffS: 1.5, maxBackoffS: 20 }).ensureResources();
    const [metadata] = await client.subscription(resources.subscription).getMetadata();
    expect(metadata.ackDeadlineSeconds).toBe(30);
    expect(metadata.deadLetterPolicy).toEqual({ deadLetterTopic: client.topic(resources.deadLetterTopic).name, maxDeliveryAttempts: 9 });
    expect(metadata.retryPolicy).toEqual({ minimumBackoff: { seconds: '1', nanos: 500_000_000 }, maximumBackoff: { seconds: '20', nanos: 0 } });
    await open().ensureResources();
    const [cleared] = await client.subscription(resources.subscription).getMetadata();
    expect(cleared.retryPolicy).toBeNull();
    const [exists] = await client.subscription(`${resources.deadLetterTopic}-read`).exists();
    expect(exists).toBe(true);
  });

  it('refuses settings Pub/Sub would reject', () => {
    expect(() => open({ maxAttempts: 3 })).toThrow('maxAttempts must be between 5 and 100, got 3');
    expect(() => open({ ackDeadlineS: 5 })).toThrow('ackDeadlineS must be between 10 and 600, got 5');
  });

  it('keeps the lease of a job running past the ack deadline, and redelivers one whose receiver died without a word', async () => {
    const queue = open();
    await queue.ensureResources();
    // A receiver that takes the job and vanishes: closed without ack or nack, as a killed process would.
    const vanished = client.subscription(resources.subscription, { closeOptions: { timeout: Duration.from({ seconds: 0 }) } });
    const taken = new Promise<Message>((resolve) => vanished.once('message', resolve));
    await queue.enqueue({ name: 'orphan' });
    await taken;
    const vanishedAt = Date.now();
    await vanished.close();

    const deliveries: { name: string; worker: string; attempt: number; at: number }[] = [];
    const worker = (name: string) => async (job: TestJob, context: JobContext) => {
      deliveries.push({ name: job.name, worker: name, attempt: context.attempt, at: Date.now() });
      if (job.name === 'slow') await sleep(14_000);
    };
    await queue.start(worker('first'));
    // A second worker on the same subscription would also get 'slow' if its lease lapsed after 10 s.
    await open().start(worker('second'));
    const slowEnqueued = Date.now();
    await queue.enqueue({ name: 'slow' });
    await waitFor(() => deliveries.some((delivery) => delivery.name === 'orphan'), 25_000);
    await sleep(Math.max(0, slowEnqueued + 15_000 - Date.now()));

    const orphan = deliveries.find((delivery) => delivery.name === 'orphan')!;
    expect(orphan.attempt).toBe(2);
    expect(orphan.at - vanishedAt).toBeGreaterThanOrEqual(9_000);
    expect(deliveries.filter((delivery) => delivery.name === 'slow')).toEqual([expect.objectContaining({ attempt: 1 })]);
  }, 40_000);
});
