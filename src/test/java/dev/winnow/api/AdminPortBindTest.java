package dev.winnow.api;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class AdminPortBindTest {

    private final Vertx vertx = Vertx.vertx();

    @AfterEach
    void close() {
        vertx.close().toCompletionStage().toCompletableFuture().join();
    }

    @Test
    void aPortAlreadyHeldFailsWithTheAddressAndTheSettingToChange() throws Exception {
        try (ServerSocket held = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int port = held.getLocalPort();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> AdminPort.listen(vertx.createHttpServer().requestHandler(r -> r.response().end()),
                            port, "127.0.0.1"));
            assertTrue(e.getMessage().contains("127.0.0.1:" + port), e.getMessage());
            assertTrue(e.getMessage().contains("winnow.models.admin-port"), e.getMessage());
        }
    }

    @Test
    void aFreePortBindsAndReportsThePortItGot() {
        HttpServer server = AdminPort.listen(vertx.createHttpServer().requestHandler(r -> r.response().end()),
                0, "127.0.0.1");
        assertTrue(server.actualPort() > 0);
        server.close().toCompletionStage().toCompletableFuture().join();
    }
}
