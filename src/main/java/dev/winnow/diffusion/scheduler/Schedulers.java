package dev.winnow.diffusion.scheduler;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Makes a fresh scheduler by its request name, one per candidate, from a pack's scheduler
 * config: each algorithm sees the config as its diffusers class would ({@link SchedulerConfig#settings}),
 * with its training schedule computed once here. Immutable and thread-safe; the schedulers it
 * makes are not.
 */
public final class Schedulers {

    /** The names a request may use for {@code scheduler}. */
    public static final List<String> NAMES = List.of("ddim", "euler", "euler_a", "dpmpp_2m", "lcm");

    private final Map<String, NoiseSchedule> schedules = new LinkedHashMap<>();

    /** Resolves the config for every algorithm (so a bad value fails here, at load time, not per request). */
    public Schedulers(SchedulerConfig config) {
        for (String name : NAMES) {
            schedules.put(name, new NoiseSchedule(config.settings(name)));
        }
    }

    public static boolean isKnown(String name) {
        return name != null && NAMES.contains(name.toLowerCase(Locale.ROOT));
    }

    /** The training schedule one algorithm samples over. */
    public NoiseSchedule schedule(String name) {
        NoiseSchedule s = schedules.get(name.toLowerCase(Locale.ROOT));
        if (s == null) {
            throw new IllegalArgumentException("unknown scheduler '" + name + "', expected one of " + NAMES);
        }
        return s;
    }

    /** A new scheduler with its timesteps set for {@code steps}. */
    public Scheduler create(String name, int steps) {
        return create(name, schedule(name), steps);
    }

    /** A new scheduler of the named algorithm over a given schedule, its timesteps set for {@code steps}. */
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
