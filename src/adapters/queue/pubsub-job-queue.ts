import { Duration, PubSub, v1, type Message, type Subscription } from '@google-cloud/pubsub';
import type { JobContext, JobQueue, JobWorker, Logger } from '../../ports.js';
import { errorLine, type EnqueueOptions } from './enqueue-options.js';

export interface PubSubJobQueueOptions {
  projectId: string;
  /** Topic the jobs are published to. */
  topic: string;
  /** Pull subscription the workers share: any replica may take any job. */
  subscription: string;
  /** Where Pub/Sub moves a job after `maxAttempts` failed deliveries. */
  deadLetterTopic: string;
  /** Subscription on the dead-letter topic, so dead jobs can be read; `<deadLetterTopic>-read` by default. */
  deadLetterSubscription?: string;
  /** Deliveries before dead-lettering; Pub/Sub accepts 5 to 100. */
  maxAttempts?: number;
  /**
   * Redelivery backoff after a failure (the subscription's retry policy): from `minBackoffS` growing to
   * `maxBackoffS`, both 0 to 600, 10 and 600 by default. A `maxBackoffS` of 0 sets no retry policy,
   * which Pub/Sub defines as redelivering at once.
   */
  minBackoffS?: number;
  maxBackoffS?: number;
  /** Lease of one delivery, 10 to 600 s: the client renews it while the job runs, so it bounds how long a crash goes unnoticed. */
  ackDeadlineS?: number;
  /** Longest time the client keeps renewing one delivery's lease; a job running longer is delivered again. */
  maxLeaseS?: number;
  /** Jobs handled at the same time by this worker. */
  concurrency?: number;
  /** Completed job ids remembered by this worker to drop duplicate deliveries. */
  recentIds?: number;
  log?: Logger;
  /** A client to share; by default the queue makes (and closes) its own. */
  client?: PubSub;
}

interface InFlight {
  controller: AbortController;
  abandoned: boolean;
  /** Resolves to true when the handler succeeded. */
  outcome: Promise<boolean>;
}

type Handler<Job> = (job: Job, context: JobContext) => Promise<void>;

const silent: Logger = { info() {}, warn() {}, error() {} };
const ALREADY_EXISTS = 6;

/**
 * The fleet's queue: jobs are Pub/Sub messages carrying the JSON job, on a topic with one pull
 * subscription shared by every replica. Retries, backoff and dead-lettering are the subscription's
 * own policies (`ensureResources` sets them); the client library renews a delivery's lease while its
 * handler runs. The worker acks on success and nacks on failure.
 *
 * Delivery is at least once. This worker drops a duplicate of a job it completed recently (by the
 * `id` given at enqueue) or holds in hand, but another replica may still run a job twice: idempotency
 * across replicas belongs to the job handler, which resumes from the results already stored.
 *
 * In production the Pub/Sub service agent (`service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com`)
 * needs `roles/pubsub.publisher` on the dead-letter topic and `roles/pubsub.subscriber` on the
 * subscription, or dead-lettering silently does not happen.
 */
export class PubSubJobQueue<Job> implements JobQueue<Job>, JobWorker<Job> {
  private readonly client: PubSub;
  private readonly ownsClient: boolean;
  private readonly names: { topic: string; subscription: string; deadLetterTopic: string; deadLetterSubscription: string };
  private readonly maxAttempts: number;
  private readonly minBackoffS: number;
  private readonly maxBackoffS: number;
  private readonly ackDeadlineS: number;
  private readonly maxLeaseS: number;
  private readonly concurrency: number;
  private readonly recentIds: number;
  private readonly log: Logger;
  private readonly completed = new Set<string>();
  private readonly inFlight = new Map<string, InFlight>();
  private subscription: Subscription | undefined;
  private stopping = false;
  private deadLetterReader: v1.SubscriberClient | undefined;

  constructor(options: PubSubJobQueueOptions) {
    this.maxAttempts = inRange('maxAttempts', options.maxAttempts ?? 5, 5, 100);
    this.minBackoffS = inRange('minBackoffS', options.minBackoffS ?? 10, 0, 600);
    this.maxBackoffS = inRange('maxBackoffS', options.maxBackoffS ?? 600, this.minBackoffS, 600);
    this.ackDeadlineS = inRange('ackDeadlineS', options.ackDeadlineS ?? 60, 10, 600);
    this.maxLeaseS = inRange('maxLeaseS', options.maxLeaseS ?? 3_600, this.ackDeadlineS, 24 * 3_600);
    this.concurrency = inRange('concurrency', options.concurrency ?? 1, 1, 1_000);
    this.recentIds = options.recentIds ?? 1_000;
    this.log = options.log ?? silent;
    this.names = {
      topic: options.topic,
      subscription: options.subscription,
      deadLetterTopic: options.deadLetterTopic,
      deadLetterSubscription: options.deadLetterSubscription ?? `${options.deadLetterTopic}-read`,
    };
    this.ownsClient = !options.client;
    this.client = options.client ?? new PubSub({ projectId: options.projectId });
  }

  /**
   * Creates the topic, the dead-letter topic, the worker subscription and the dead-letter reading
   * subscription when missing, and brings an existing worker subscription's policies up to date.
   */
  async ensureResources(): Promise<void> {
    await createUnlessExists(() => this.client.createTopic(this.names.topic));
    await createUnlessExists(() => this.client.createTopic(this.names.deadLetterTopic));
    const policies = this.subscriptionPolicies();
    const created = await createUnlessExists(() => this.client.topic(this.names.topic).createSubscription(this.names.subscription, policies));
    if (!created) await this.client.subscription(this.names.subscription).setMetadata(policies);
    await createUnlessExists(() =>
      this.client.topic(this.names.deadLetterTopic).createSubscription(this.names.deadLetterSubscription, { ackDeadlineSeconds: 60 }),
    );
  }

  /** Publishes the job; an `id` travels as the message's `id` attribute so workers can drop duplicates. */
  async enqueue(job: Job, options: EnqueueOptions = {}): Promise<void> {
    const payload = JSON.stringify(job);
    if (payload === undefined) throw new TypeError('a job must be JSON-serialisable');
    await this.client.topic(this.names.topic).publishMessage({
      data: Buffer.from(payload),
      ...(options.id === undefined ? {} : { attributes: { id: options.id } }),
    });
  }

  async start(handle: Handler<Job>): Promise<void> {
    if (this.subscription) throw new Error('this queue is already delivering jobs');
    this.stopping = false;
    const subscription = this.client.subscription(this.names.subscription, {
      // The stream's lease is the subscriber's ack deadline, not the subscription's: pin it.
      minAckDeadline: Duration.from({ seconds: this.ackDeadlineS }),
      maxAckDeadline: Duration.from({ seconds: this.ackDeadlineS }),
      maxExtensionTime: Duration.from({ seconds: this.maxLeaseS }),
      // Without allowExcessMessages: false, a pulled batch is dispatched beyond maxMessages.
      flowControl: { maxMessages: this.concurrency, allowExcessMessages: false },
    });
    subscription.on('message', (message: Message) => void this.onMessage(message, handle));
    subscription.on('error', (error) => this.log.error({ err: errorLine(error) }, 'job subscription failed'));
    this.subscription = subscription;
  }

  /**
   * Stops taking jobs. Without `abandon`, waits for the handlers in hand and acks or nacks them.
   * With it, aborts their signals and nacks them at once, so Pub/Sub redelivers them right away
   * (to this replica's successor or another one) instead of after the lease; a delivery lost with a
   * crashed process comes back only once its ack deadline passes. Either way, messages buffered but
   * not yet handled are nacked, which counts as a delivery attempt.
   */
  async stop(options: { abandon?: boolean } = {}): Promise<void> {
    const subscription = this.subscription;
    if (!subscription) return;
    this.stopping = true;
    const inHand = [...this.inFlight.values()];
    if (options.abandon) {
      for (const entry of inHand) {
        entry.abandoned = true;
        entry.controller.abort(new Error('the worker was stopped'));
      }
    } else {
      await Promise.all(inHand.map((entry) => entry.outcome));
    }
    subscription.removeAllListeners('message');
    await subscription.close();
    subscription.removeAllListeners();
    this.subscription = undefined;
    this.inFlight.clear();
  }

  /** Stops the worker and closes the clients this queue made. */
  async close(options: { abandon?: boolean } = {}): Promise<void> {
    await this.stop(options);
    await this.deadLetterReader?.close();
    this.deadLetterReader = undefined;
    if (this.ownsClient) await this.client.close();
  }

  /**
   * Reads and acknowledges up to `max` dead jobs from the dead-letter subscription (a destructive
   * read, for an operator to inspect or re-enqueue them). Returns at once when none is waiting.
   */
  async takeDeadLetters(max = 100): Promise<Job[]> {
    if (!this.deadLetterReader) {
      // getClientConfig carries the emulator settings; its port may be a string where the generated client types want a number.
      const { port, ...config } = await this.client.getClientConfig();
      this.deadLetterReader = new v1.SubscriberClient({ ...config, ...(port === undefined ? {} : { port: Number(port) }) });
    }
    const subscription = this.client.subscription(this.names.deadLetterSubscription).name;
    const jobs: Job[] = [];
    while (jobs.length < max) {
      const [response] = await this.deadLetterReader.pull({ subscription, maxMessages: max - jobs.length, returnImmediately: true });
      const received = response.receivedMessages ?? [];
      if (received.length === 0) break;
      for (const { message } of received) jobs.push(JSON.parse(messageText(message)) as Job);
      await this.deadLetterReader.acknowledge({ subscription, ackIds: received.map((item) => item.ackId!) });
    }
    return jobs;
  }

  private subscriptionPolicies() {
    return {
      ackDeadlineSeconds: this.ackDeadlineS,
      // null (rather than leaving the field out) clears a policy set earlier when ensureResources updates.
      retryPolicy:
        this.maxBackoffS === 0 ? null : { minimumBackoff: seconds(this.minBackoffS), maximumBackoff: seconds(this.maxBackoffS) },
      deadLetterPolicy: {
        deadLetterTopic: this.client.topic(this.names.deadLetterTopic).name,
        maxDeliveryAttempts: this.maxAttempts,
      },
    };
  }

  private async onMessage(message: Message, handle: Handler<Job>): Promise<void> {
    if (this.stopping) {
      message.nack();
      return;
    }
    const key = message.attributes.id ?? message.id;
    if (this.completed.has(key)) {
      message.ack();
      return;
    }
    const running = this.inFlight.get(key);
    if (running) {
      // A duplicate of a job in hand: settle it the same way once the first copy is done.
      const succeeded = await running.outcome;
      if (running.abandoned) return;
      if (succeeded) message.ack();
      else message.nack();
      return;
    }
    const entry: InFlight = { controller: new AbortController(), abandoned: false, outcome: Promise.resolve(false) };
    this.inFlight.set(key, entry);
    entry.outcome = this.handle(message, key, entry, handle);
    await entry.outcome;
  }

  private async handle(message: Message, key: string, entry: InFlight, handle: Handler<Job>): Promise<boolean> {
    // deliveryAttempt is only filled in when the subscription has a dead-letter policy (and is approximate).
    const attempt = Math.max(1, message.deliveryAttempt || 1);
    let failure: string | undefined;
    try {
      await handle(JSON.parse(message.data.toString('utf8')) as Job, { attempt, signal: entry.controller.signal });
    } catch (error) {
      failure = errorLine(error);
    }
    if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
    if (entry.abandoned) return false;
    if (failure === undefined) {
      this.remember(key);
      message.ack();
      return true;
    }
    const fields = { jobId: key, attempt, err: failure };
    if (attempt >= this.maxAttempts) this.log.error(fields, 'job failed on its last attempt and goes to the dead-letter topic');
    else this.log.warn(fields, 'job failed and will be retried');
    message.nack();
    return false;
  }

  private remember(key: string): void {
    this.completed.add(key);
    if (this.completed.size > this.recentIds) this.completed.delete(this.completed.values().next().value!);
  }
}

async function createUnlessExists(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === ALREADY_EXISTS) return false;
    throw error;
  }
}

function seconds(value: number): { seconds: number; nanos: number } {
  const whole = Math.floor(value);
  return { seconds: whole, nanos: Math.round((value - whole) * 1e9) };
}

function messageText(message: { data?: Uint8Array | string | null } | null | undefined): string {
  const data = message?.data;
  if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
  return Buffer.from(data ?? new Uint8Array()).toString('utf8');
}

function inRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw new RangeError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}
