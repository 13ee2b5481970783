package dev.winnow.api;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;

@QuarkusTest
@TestProfile(Sd21VFixtureHttpTest.Profile.class)
class Sd21VFixtureHttpTest extends FixturePackHttpBase {

    public static class Profile extends Pack {
        @Override
        String name() {
            return "sd21-v-fixture";
        }
    }

    @Override
    String scheduler() {
        return "euler";
    }

    @Override
    double guidance() {
        return 7.5;
    }
}
