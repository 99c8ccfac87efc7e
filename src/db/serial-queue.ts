/**
 * Runs tasks one after another, each after the previous one settled (whatever its outcome).
 * The stores use one per collection to make read-then-write operations atomic within a process.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<R> (task: () => Promise<R>): Promise<R> {
    const result = this.tail.then(task)
    this.tail = result.catch(() => {})
    return result
  }

  /** Resolves once every task queued so far has settled. */
  drain (): Promise<unknown> {
    return this.tail
  }
}
