package dev.winnow.api;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;

@QuarkusTest
@TestProfile(SdTurboFixtureHttpTest.Profile.class)
class SdTurboFixtureHttpTest extends FixturePackHttpBase {

    public static class Profile extends Pack {
        @Override
        String name() {
            return "sd-turbo-fixture";
        }
    }

    @Override
    String scheduler() {
        return "euler";
    }

    @Override
    double guidance() {
        return 0.0;
    }
}
