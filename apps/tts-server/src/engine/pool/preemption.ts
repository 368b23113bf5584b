/**
 * The one preemption that may run at a time (dispatch-policy.ts `preemptionFor` says
 * when): the job that runs on every core and the workers paused (SIGSTOP) until it
 * ends or turns out to need no more than its own threads (SIGCONT).
 */
import type { JobRunner, WorkerJob } from './job-runner';
import type { PoolWorker, WorkerSupervisor } from './worker-supervisor';

export class Preemption {
  private current: { jobId: number; paused: PoolWorker[] } | undefined;
  /** Jobs that preempted other workers' sentences (metrics). */
  count = 0;

  constructor(
    private readonly supervisor: WorkerSupervisor,
    private readonly jobs: JobRunner,
  ) {}

  /** A preempting job runs now: nothing else may start (it would take the cores back). */
  get active(): boolean {
    return this.current !== undefined;
  }

  isPreempting(job: WorkerJob): boolean {
    return this.current?.jobId === job.id;
  }

  /** Pauses `workers` while `job` runs; their jobs are not paused again. */
  begin(job: WorkerJob, workers: PoolWorker[]): void {
    this.count += 1;
    for (const worker of workers) {
      const paused = this.jobs.jobOf(worker);
      if (paused) paused.preempted = true;
    }
    this.supervisor.pause(workers);
    this.current = { jobId: job.id, paused: workers };
  }

  /** The paused workers go on (the preempting job ended, or the pool stops). */
  end(): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    this.supervisor.resume(current.paused);
  }
}
