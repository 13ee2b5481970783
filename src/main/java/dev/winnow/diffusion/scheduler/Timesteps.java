package dev.winnow.diffusion.scheduler;

/**
 * The inference timestep lists of diffusers' schedulers, one method per rule, so the
 * numbers match diffusers' {@code set_timesteps} for every spacing (pinned by tests).
 */
final class Timesteps {

    private Timesteps() {
    }

    /**
     * DDIM, Euler and Euler-ancestral ({@code set_timesteps} in scheduling_ddim.py /
     * scheduling_euler_discrete.py). Returns descending timesteps.
     */
    static double[] spaced(SchedulerConfig c, int steps) {
        int trainSteps = c.numTrainTimesteps();
        double[] ts = new double[steps];
        switch (c.timestepSpacing()) {
            case "linspace" -> {
                // np.linspace(0, T - 1, n)[::-1]  (DDIM additionally rounds: see roundAll)
                for (int i = 0; i < steps; i++) {
                    ts[steps - 1 - i] = steps == 1 ? 0 : (double) (trainSteps - 1) * i / (steps - 1);
                }
            }
            case "leading" -> {
                // step_ratio = T // n; (arange(n) * step_ratio)[::-1] + steps_offset
                int ratio = trainSteps / steps;
                for (int i = 0; i < steps; i++) {
                    ts[steps - 1 - i] = (double) i * ratio + c.stepsOffset();
                }
            }
            case "trailing" -> {
                // step_ratio = T / n; round(arange(T, 0, -step_ratio)) - 1
                double ratio = (double) trainSteps / steps;
                for (int i = 0; i < steps; i++) {
                    ts[i] = Math.rint(trainSteps - i * ratio) - 1;
                }
            }
            default -> throw new IllegalArgumentException(c.timestepSpacing());
        }
        return ts;
    }

    /** DPM-Solver multistep's rule (scheduling_dpmsolver_multistep.py): n + 1 points, the last dropped. */
    static double[] dpmSolver(SchedulerConfig c, int steps) {
        int trainSteps = c.numTrainTimesteps();
        double[] ts = new double[steps];
        switch (c.timestepSpacing()) {
            case "linspace" -> {
                // np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
                for (int i = 0; i < steps; i++) {
                    ts[i] = Math.rint((double) (trainSteps - 1) * (steps - i) / steps);
                }
            }
            case "leading" -> {
                // step_ratio = T // (n + 1); (arange(n + 1) * step_ratio)[::-1][:-1] + steps_offset
                int ratio = trainSteps / (steps + 1);
                for (int i = 0; i < steps; i++) {
                    ts[i] = (double) (steps - i) * ratio + c.stepsOffset();
                }
            }
            case "trailing" -> {
                return spaced(c, steps);
            }
            default -> throw new IllegalArgumentException(c.timestepSpacing());
        }
        return ts;
    }

    /** numpy's round-half-to-even, as {@code .round()} does before the int64 cast. */
    static double[] roundAll(double[] ts) {
        double[] r = new double[ts.length];
        for (int i = 0; i < ts.length; i++) {
            r[i] = Math.rint(ts[i]);
        }
        return r;
    }
}
