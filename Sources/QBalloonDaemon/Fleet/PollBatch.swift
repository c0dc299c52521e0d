/// One round's polls of the VMs whose workers need not wake (``Mailbox/poll()``), by the thread their connection
/// reads on: one job per event loop starts them all, instead of one task wake-up per VM.
struct PollBatch {
    private var byThread: [ObjectIdentifier: [(worker: VMWorker, read: TasklessRead)]] = [:]

    /// Asks `worker` for a read, keeping it for ``start()`` when its worker need not wake.
    mutating func poll(_ worker: VMWorker) {
        guard let read = worker.mailbox.poll() else { return }
        byThread[read.connection.readThread, default: []].append((worker, read))
    }

    /// Starts the kept reads: one job on each connection thread.
    func start() {
        for reads in byThread.values {
            guard let first = reads.first else { continue }
            first.read.connection.onReadThread {
                for (worker, read) in reads { worker.readWithoutTask(read) }
            }
        }
    }
}
