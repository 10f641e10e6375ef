// Runs an embedded Neo4j Community server with Bolt, for kgx tests, CI and benchmarks.
//
// Usage (Java 17 single-file source launcher; no compile step):
//   NEO4J_PASSWORD=... java -Xmx1g -cp 'tools/neo4j/lib/*:tools/neo4j/plugins/*' \
//       kgx/testing/neo4j/Launcher.java HOME CONF
//
//   HOME  the server's home directory (data/ and logs/ are created under it)
//   CONF  a neo4j.conf-style file with the settings (Bolt address, plugin dir, memory, ...)
//
// The APOC jars must be on the classpath as well as in the plugin directory: Neo4j loads the
// procedures from the plugin directory, but APOC's extension (which provides ApocConfig to the
// procedures) is found through the classpath, as with the server's own start script.
//
// The password of the `neo4j` user is read from the NEO4J_PASSWORD environment variable (never
// from the command line, where `ps` would show it) and set without any interactive step: for a
// new database it is written as the initial password before start (what `neo4j-admin dbms
// set-initial-password` does), otherwise, or if that fails, with ALTER USER after start.
// Prints "kgx-neo4j: ready" when clients can log in. Stops cleanly on SIGTERM/SIGINT, and when
// the process named by KGX_NEO4J_OWNER_PID (if set) ends, so a killed test run leaves no server.
// Normally started by `python -m kgx.testing.neo4j_server start`.

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.impl.security.User;
import org.neo4j.logging.NullLogProvider;
import org.neo4j.memory.EmptyMemoryTracker;
import org.neo4j.server.security.SecureHasher;
import org.neo4j.server.security.SystemGraphCredential;
import org.neo4j.server.security.auth.CommunitySecurityModule;
import org.neo4j.server.security.auth.FileUserRepository;

public class Launcher {
    private static final String USER = "neo4j";
    private static final AtomicReference<DatabaseManagementService> SERVICE = new AtomicReference<>();
    private static final CountDownLatch STOPPED = new CountDownLatch(1);

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java -cp 'lib/*:plugins/*' Launcher.java HOME CONF  (password in NEO4J_PASSWORD)");
            System.exit(2);
        }
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("kgx-neo4j: set NEO4J_PASSWORD to a password of at least 8 characters");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path conf = Path.of(args[1]).toAbsolutePath();
        Runtime.getRuntime().addShutdownHook(new Thread(Launcher::shutdown, "kgx-neo4j-shutdown"));
        exitWithOwner(System.getenv("KGX_NEO4J_OWNER_PID"));

        long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
        long t0 = System.currentTimeMillis();
        Path initialAuth = writeInitialPassword(home, conf, password);
        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .loadPropertiesFromFile(conf)
                .build();
        SERVICE.set(service);
        long t1 = System.currentTimeMillis();
        if (initialAuth != null) {
            Files.deleteIfExists(initialAuth); // consumed when the system database was created
        } else {
            alterPassword(service, password);
        }
        long t2 = System.currentTimeMillis();
        System.out.printf("kgx-neo4j: JVM + source compile %d ms, Neo4j start %d ms, password %d ms (%s)%n",
                t0 - jvmStart, t1 - t0, t2 - t1, initialAuth != null ? "initial" : "ALTER USER");
        System.out.println("kgx-neo4j: ready");
        System.out.flush();
        STOPPED.await();
    }

    /**
     * Writes the initial password for a database that does not exist yet (data/dbms/auth.ini),
     * as `neo4j-admin dbms set-initial-password` does. Returns the file, or null when the
     * database already exists or Neo4j's internal API differs (then ALTER USER is used).
     */
    private static Path writeInitialPassword(Path home, Path conf, String password) {
        try {
            Config config = Config.newBuilder()
                    .set(GraphDatabaseSettings.neo4j_home, home)
                    .fromFile(conf)
                    .build();
            Path databases = config.get(GraphDatabaseSettings.data_directory).resolve("databases");
            if (Files.exists(databases.resolve("system"))) {
                return null;
            }
            Path file = CommunitySecurityModule.getInitialUserRepositoryFile(config);
            try (DefaultFileSystemAbstraction fs = new DefaultFileSystemAbstraction()) {
                fs.mkdirs(file.getParent());
                fs.deleteFile(file);
                FileUserRepository users = new FileUserRepository(
                        fs, file, NullLogProvider.getInstance(), EmptyMemoryTracker.INSTANCE);
                users.start();
                SystemGraphCredential credential = SystemGraphCredential.createCredentialForPassword(
                        password.getBytes(StandardCharsets.UTF_8), new SecureHasher());
                users.create(new User(USER, null, credential, false, false));
                users.shutdown();
            }
            return file;
        } catch (Throwable e) { // internal API: fall back to ALTER USER rather than fail
            System.out.println("kgx-neo4j: could not write the initial password (" + e + "); using ALTER USER");
            return null;
        }
    }

    /**
     * Sets the `neo4j` user's password on a running server, without a password-change step.
     * A database kept from an earlier start (start_server(keep_data=True)) may have it already.
     */
    private static void alterPassword(DatabaseManagementService service, String password) {
        try {
            service.database("system").executeTransactionally(
                    "ALTER USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                throw e;
            }
        }
    }

    /** If an owner pid is given (a test run), shuts down cleanly when that process ends. */
    private static void exitWithOwner(String ownerPid) {
        if (ownerPid == null || ownerPid.isEmpty()) {
            return;
        }
        ProcessHandle.of(Long.parseLong(ownerPid)).ifPresentOrElse(
                owner -> owner.onExit().thenRun(() -> {
                    System.out.println("kgx-neo4j: owner process " + ownerPid + " ended");
                    System.exit(0);
                }),
                () -> System.exit(0));
    }

    /** Shuts the databases down (flushing them to disk); runs on SIGTERM/SIGINT or normal exit. */
    private static void shutdown() {
        DatabaseManagementService service = SERVICE.getAndSet(null);
        if (service != null) {
            System.out.println("kgx-neo4j: shutting down");
            service.shutdown();
            System.out.println("kgx-neo4j: stopped");
            System.out.flush();
        }
        STOPPED.countDown();
    }
}
