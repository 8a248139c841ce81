/// Whatever makes Ed25519 signatures for one roster key: a ``SigningKey`` in memory (a key file), or an agent that
/// holds the key and never gives it out (SPEC.md §7.4). Every signature it returns verifies under ``publicKey``
/// over exactly the message given; a signer that cannot make one throws, and then nothing is signed.
public protocol Ed25519Signer: AnyObject, Sendable {
    var publicKey: PublicKey { get }
    /// The signature over `message` (the exact bytes SPEC.md §2.2 defines, domain tag included).
    func signature(over message: [UInt8]) throws -> [UInt8]
    /// The X25519 static secret for node links, when the signer can derive one (a key in memory); nil for a key held
    /// elsewhere, which then proves itself on a link by its handshake signature alone (SPEC.md §12.2). The caller
    /// zeroes it.
    func linkStaticSecret() -> [UInt8]?
}

extension SigningKey: Ed25519Signer {
    public func signature(over message: [UInt8]) -> [UInt8] { sign(message) }
    public func linkStaticSecret() -> [UInt8]? { x25519Secret() }
}

/// A signer returned a signature that does not verify for its key over the message it was given.
public struct SignerFault: Error, CustomStringConvertible {
    public let fingerprint: String
    public var description: String { "the signature made for key \(fingerprint) does not verify; nothing was signed" }
}
