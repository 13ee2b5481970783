package dev.winnow.diffusion.scheduler;

/**
 * The inference timestep lists of diffusers' schedulers, one method per class, with numpy's
 * own arithmetic ({@code linspace} as {@code i·step + start} with the end point set exactly,
 * {@code arange} as {@code start + i·(second - first)}, {@code round} half to even), so the
 * lists are diffusers' exactly, fractional float32 Euler timesteps included.
 */
final class Timesteps {

    private Timesteps() {
    }

    /** DDIMScheduler.set_timesteps: integers, descending. */
    static double[] ddim(SchedulerSettings c, int steps) {
        int trainSteps = c.numTrainTimesteps();
        return switch (c.timestepSpacing()) {
            // np.linspace(0, T - 1, n).round()[::-1]
            case "linspace" -> roundAll(reversed(linspace(0, trainSteps - 1, steps)));
            case "leading" -> leading(trainSteps, steps, c.stepsOffset());
            case "trailing" -> trailing(trainSteps, trainSteps, steps);
            default -> throw new IllegalArgumentException(c.timestepSpacing());
        };
    }

    /** EulerDiscreteScheduler and EulerAncestralDiscreteScheduler: float32 timesteps, descending. */
    static double[] euler(SchedulerSettings c, int steps) {
        int trainSteps = c.numTrainTimesteps();
        double[] ts = switch (c.timestepSpacing()) {
            // np.linspace(0, T - 1, n, dtype=float32)[::-1]: fractional, not rounded
            case "linspace" -> reversed(linspace(0, trainSteps - 1, steps));
            case "leading" -> leading(trainSteps, steps, c.stepsOffset());
            case "trailing" -> trailing(trainSteps, trainSteps, steps);
            default -> throw new IllegalArgumentException(c.timestepSpacing());
        };
        return toFloat32(ts);
    }

    /** DPMSolverMultistepScheduler: n + 1 points with the last (0) dropped; integers, descending. */
    static double[] dpmSolver(SchedulerSettings c, int steps) {
        int trainSteps = c.numTrainTimesteps();
        // lambda_min_clipped = -inf (the only value Winnow takes) clips nothing: last_timestep = T
        int last = trainSteps;
        return switch (c.timestepSpacing()) {
            case "linspace" -> {
                // np.linspace(0, last - 1, n + 1).round()[::-1][:-1]
                double[] all = roundAll(reversed(linspace(0, last - 1, steps + 1)));
                yield java.util.Arrays.copyOf(all, steps);
            }
            case "leading" -> {
                // step_ratio = last // (n + 1); (arange(n + 1) * step_ratio).round()[::-1][:-1] + steps_offset
                int ratio = last / (steps + 1);
                double[] ts = new double[steps];
                for (int i = 0; i < steps; i++) {
                    ts[i] = (double) (steps - i) * ratio + c.stepsOffset();
                }
                yield ts;
            }
            case "trailing" -> trailing(trainSteps, last, steps);
            default -> throw new IllegalArgumentException(c.timestepSpacing());
        };
    }

    /**
     * LCMScheduler: k = T // original_steps; the distillation's timesteps [1..original]·k - 1,
     * reversed, at floor(linspace(0, original, n, endpoint=False)).
     */
    static double[] lcm(SchedulerSettings c, int steps) {
        int original = c.originalInferenceSteps();
        int k = c.numTrainTimesteps() / original;
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            int index = (int) Math.floor(i * ((double) original / steps));
            int originIndex = original - 1 - index;   // the origin list reversed
            ts[i] = (double) (originIndex + 1) * k - 1;
        }
        return ts;
    }

    /** step_ratio = T // n; (arange(n) * step_ratio).round()[::-1] + steps_offset. */
    private static double[] leading(int trainSteps, int steps, int offset) {
        int ratio = trainSteps / steps;
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            ts[steps - 1 - i] = (double) i * ratio + offset;
        }
        return ts;
    }

    /** step_ratio = T / n; np.arange(start, 0, -step_ratio).round() - 1. */
    private static double[] trailing(int trainSteps, int start, int steps) {
        double ratio = (double) trainSteps / steps;
        double delta = (start - ratio) - start;   // numpy's arange fills start + i·(a[1] - a[0])
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            ts[i] = Math.rint(start + i * delta) - 1;
        }
        return ts;
    }

    /** np.linspace(start, stop, n) in float64: i·step + start, the end point exactly stop. */
    static double[] linspace(double start, double stop, int n) {
        double[] y = new double[n];
        if (n == 1) {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (n - 1);
        for (int i = 0; i < n; i++) {
            y[i] = i * step + start;
        }
        y[n - 1] = stop;
        return y;
    }

    static double[] reversed(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[a.length - 1 - i];
        }
        return r;
    }

    /** numpy's round-half-to-even, as {@code .round()} does before the int64 cast. */
    static double[] roundAll(double[] ts) {
        double[] r = new double[ts.length];
        for (int i = 0; i < ts.length; i++) {
            r[i] = Math.rint(ts[i]);
        }
        return r;
    }

    static double[] toFloat32(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = (float) a[i];
        }
        return r;
    }
}
