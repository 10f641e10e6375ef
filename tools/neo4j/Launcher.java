// Runs an embedded Neo4j Community server with Bolt, for kgx tests, CI and benchmarks.
//
// Usage (Java 17 single-file source launcher; no compile step):
//   NEO4J_PASSWORD=... java -Xmx1g -cp 'tools/neo4j/lib/*' tools/neo4j/Launcher.java HOME CONF
//
//   HOME  the server's home directory (data/ and logs/ are created under it)
//   CONF  a neo4j.conf-style file with the settings (Bolt address, plugin dir, memory, ...)
//
// The password of the `neo4j` user is read from the NEO4J_PASSWORD environment variable
// (never from the command line, where `ps` would show it) and set without any interactive
// step. Prints "kgx-neo4j: ready" once the password is set. Stops cleanly on SIGTERM/SIGINT.
// Normally started by `python -m kgx.testing.neo4j_server start`.

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

public class Launcher {
    private static final AtomicReference<DatabaseManagementService> SERVICE = new AtomicReference<>();
    private static final CountDownLatch STOPPED = new CountDownLatch(1);

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java -cp 'lib/*' Launcher.java HOME CONF  (password in NEO4J_PASSWORD)");
            System.exit(2);
        }
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("kgx-neo4j: set NEO4J_PASSWORD to a password of at least 8 characters");
            System.exit(2);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(Launcher::shutdown, "kgx-neo4j-shutdown"));
        DatabaseManagementService service = new DatabaseManagementServiceBuilder(Path.of(args[0]))
                .loadPropertiesFromFile(Path.of(args[1]))
                .build();
        SERVICE.set(service);
        setInitialPassword(service, password);
        System.out.println("kgx-neo4j: ready");
        System.out.flush();
        STOPPED.await();
    }

    /** Sets the `neo4j` user's password so clients can log in without a password-change step. */
    private static void setInitialPassword(DatabaseManagementService service, String password) {
        service.database("system").executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
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
