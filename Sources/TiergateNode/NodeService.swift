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

    public init(config: NodeConfig, logger: Logger, onListening: @escaping @Sendable (SocketAddress) -> Void) {
        self.config = config
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime = try NodeRuntime(config: config, group: group, logger: logger)
        let address: SocketAddress
        do { address = try await runtime.bind().get() } catch {
            try? await runtime.requestStop().get()  // completes the stop promise (an unfulfilled one traps in NIO)
            try await group.shutdownGracefully()
            throw NodeError.cannotListen("\(config.listen): \(error)")
        }
        onListening(address)
        // Runs until the ServiceGroup starts a graceful shutdown, or until the node has to stop (a ledger write
        // failed): that error is thrown to the ServiceGroup, and the CLI decides the exit code.
        let failure = await withGracefulShutdownHandler {
            (try? await runtime.stopReason.get()) ?? nil
        } onGracefulShutdown: {
            runtime.requestStop()
        }
        logger.info("shutting down")
        try await runtime.shutdown().get()
        try await group.shutdownGracefully()
        if let failure { throw failure }
    }
}
