package dev.winnow.feedback;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Generation ids a client cannot forge: {@code <uuid>.<HMAC-SHA256(secret, uuid), base64url, 128 bits>}.
 * Only an id this service handed out verifies, so feedback can name only generations that happened.
 */
public final class GenerationIds {

    private final byte[] secret;

    /** @param secret the key; empty: a random one for this process (ids then do not outlive a restart) */
    public GenerationIds(String secret) {
        if (secret == null || secret.isEmpty()) {
            this.secret = new byte[32];
            new SecureRandom().nextBytes(this.secret);
        } else {
            this.secret = secret.getBytes(StandardCharsets.UTF_8);
        }
    }

    /** The signed id of generation {@code uuid}. */
    public String sign(String uuid) {
        return uuid + "." + mac(uuid);
    }

    /**
     * @return the generation's uuid when {@code id} carries this service's signature, else null
     */
    public String verify(String id) {
        if (id == null) {
            return null;
        }
        int dot = id.lastIndexOf('.');
        if (dot <= 0) {
            return null;
        }
        String uuid = id.substring(0, dot);
        byte[] given = id.substring(dot + 1).getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(given, mac(uuid).getBytes(StandardCharsets.US_ASCII)) ? uuid : null;
    }

    private String mac(String uuid) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            byte[] full = mac.doFinal(uuid.getBytes(StandardCharsets.UTF_8));
            return Base64.getUrlEncoder().withoutPadding().encodeToString(java.util.Arrays.copyOf(full, 16));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }
}
