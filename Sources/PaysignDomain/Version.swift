/// paysign's version, one for the client, the daemon and the Debian package (`make deb` reads it
/// from `paysignd --version`).
public enum PaysignVersion {
    public static let current = "0.2.0"
}
