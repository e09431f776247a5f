import Logging
import RaftTLS
import ServiceLifecycle
import UnixSignals

/// Re-reads the TLS certificate, key and authority files on SIGHUP, the way daemons pick up a
/// rotated certificate: connections opened afterwards use the new ones, open ones keep theirs.
/// A reload that fails (a half-written file, a key that does not match) keeps the old ones and
/// is logged; the next SIGHUP tries again.
struct CertificateReloader: Service {
    let layer: TLSStreamLayer
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            // A failure is logged by the layer; the node goes on with the certificates it had.
            try? await layer.reloadCertificates()
        }
    }
}
