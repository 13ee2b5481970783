package dev.winnow.api;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;

@QuarkusTest
@TestProfile(Sd15OptimumFixtureHttpTest.Profile.class)
class Sd15OptimumFixtureHttpTest extends FixturePackHttpBase {

    public static class Profile extends Pack {
        @Override
        String name() {
            return "sd15-optimum-fixture";
        }
    }

    @Override
    String scheduler() {
        return "ddim";
    }

    @Override
    double guidance() {
        return 7.5;
    }
}
