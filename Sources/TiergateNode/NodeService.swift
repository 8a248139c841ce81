import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TiergateCore
import TiergateStorage

#if canImport(Glibc)
import Glibc
#endif

/// A Tiergate node as a swift-service-lifecycle `Service`: runs until graceful shutdown (SIGTERM/SIGINT through
/// the `ServiceGroup`), then closes every connection and the listener.
public struct NodeService: Service {
    let config: NodeConfig
    let logger: Logger
    let onListening: @Sendable (SocketAddress) -> Void
    /// The HTTP side (metrics, health, the status page), off when nil; called with its address once bound.
    let http: Endpoint?
    let onHTTP: @Sendable (SocketAddress) -> Void
    /// Where to POST lab events (`--notify`).
    let notify: [NotifyURL]

    public init(config: NodeConfig, logger: Logger, http: Endpoint? = nil, notify: [NotifyURL] = [],
                onHTTP: @escaping @Sendable (SocketAddress) -> Void = { _ in },
                onListening: @escaping @Sendable (SocketAddress) -> Void) {
        self.config = config
        self.logger = logger
        self.http = http
        self.notify = notify
        self.onHTTP = onHTTP
        self.onListening = onListening
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime = try NodeRuntime(config: config, group: group, logger: logger)
        let metrics = NodeMetrics()
        let server = http.map { NodeHTTPServer(runtime: runtime, endpoint: $0, metrics: metrics, logger: logger) }
        let notifier = notify.isEmpty ? nil : Notifier(urls: notify, runtime: runtime, logger: logger)
        if http != nil { runtime.onAppendDuration = { ns in metrics.appendTimer.recordNanoseconds(Int64(clamping: ns)) } }
        if let server { runtime.onChange.append { server.changed() } }
        if let notifier { runtime.onChange.append { notifier.changed() } }
        let address: SocketAddress
        do { address = try await runtime.bind().get() } catch {
            try? await runtime.requestStop().get()  // completes the stop promise (an unfulfilled one traps in NIO)
            try await group.shutdownGracefully()
            throw NodeError.cannotListen("\(config.listen): \(error)")
        }
        onListening(address)
        if let server, let e = http {
            do { onHTTP(try await server.start().get()) } catch {
                try? await runtime.requestStop().get()
                try await runtime.shutdown().get()
                try? await server.stop().get()
                try await group.shutdownGracefully()
                throw NodeError.cannotListen("--http \(e): \(error)")
            }
        }
        notifier?.start()
        // Runs until the ServiceGroup starts a graceful shutdown, or until the node has to stop (a ledger write
        // failed): that error is thrown to the ServiceGroup, and the CLI decides the exit code.
        let failure = await withGracefulShutdownHandler {
            (try? await runtime.stopReason.get()) ?? nil
        } onGracefulShutdown: {
            runtime.requestStop()
        }
        logger.info("shutting down")
        // The node first: once its queued writes are done it reports no more changes, so the HTTP side and the
        // notifier can stop after it (their snapshots still reach the node's loop until the group goes).
        try await runtime.shutdown().get()
        try? await server?.stop().get()
        try? await notifier?.stop().get()
        try await group.shutdownGracefully()
        if let failure { throw failure }
    }
}
