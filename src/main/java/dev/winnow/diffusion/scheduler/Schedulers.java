package dev.winnow.diffusion.scheduler;

import java.util.List;
import java.util.Locale;

/** Creates a fresh scheduler by its request name; one per candidate. */
public final class Schedulers {

    /** The names a request may use for {@code scheduler}. */
    public static final List<String> NAMES = List.of("ddim", "euler", "euler_a", "dpmpp_2m", "lcm");

    private Schedulers() {
    }

    public static boolean isKnown(String name) {
        return name != null && NAMES.contains(name.toLowerCase(Locale.ROOT));
    }

    /** A new scheduler with its timesteps set for {@code steps}. */
    public static Scheduler create(String name, NoiseSchedule schedule, int steps) {
        Scheduler s = switch (name.toLowerCase(Locale.ROOT)) {
            case "ddim" -> new DdimScheduler(schedule);
            case "euler" -> new EulerDiscreteScheduler(schedule);
            case "euler_a" -> new EulerAncestralScheduler(schedule);
            case "dpmpp_2m" -> new DpmSolverMultistepScheduler(schedule);
            case "lcm" -> new LcmScheduler(schedule);
            default -> throw new IllegalArgumentException("unknown scheduler '" + name + "', expected one of " + NAMES);
        };
        s.setTimesteps(steps);
        return s;
    }
}
