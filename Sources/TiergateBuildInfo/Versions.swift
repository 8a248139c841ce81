/// What `tiergate --version` reports beside the release: the protocol the binary speaks (protocol-spec/SPEC.md) and
/// the commit it was built from (`gitCommit`, written at build time by Plugins/BuildInfo).
public enum Versions {
    public static let release = "0.1.0"
    /// protocol-spec/SPEC.md's version; the wire protocol's HELLO carries the same number.
    public static let spec = 1
    public static var line: String { "\(release) (spec \(spec), commit \(gitCommit))" }
}
