package dev.winnow.api;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;

@QuarkusTest
@TestProfile(Sd15Fp16DiffusersFixtureHttpTest.Profile.class)
class Sd15Fp16DiffusersFixtureHttpTest extends FixturePackHttpBase {

    public static class Profile extends Pack {
        @Override
        String name() {
            return "sd15-fp16-diffusers-fixture";
        }
    }

    @Override
    String scheduler() {
        return "dpmpp_2m";
    }

    @Override
    double guidance() {
        return 7.5;
    }
}
