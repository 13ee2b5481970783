package dev.winnow.diffusion.scheduler;

/** Timesteps with their sigmas (plus a final σ = 0), shared by the Euler-family schedulers. */
record SigmaSchedule(double[] timesteps, double[] sigmas) {

    /** diffusers' Euler schedulers: timesteps by spacing, σ interpolated at each, then 0 appended. */
    static SigmaSchedule euler(NoiseSchedule schedule, int steps) {
        SchedulerConfig c = schedule.config();
        double[] ts = Timesteps.spaced(c, steps);
        if (!"linspace".equals(c.timestepSpacing())) {
            ts = Timesteps.roundAll(ts);
        }
        return withSigmas(schedule, ts);
    }

    static SigmaSchedule withSigmas(NoiseSchedule schedule, double[] ts) {
        double[] sigmas = new double[ts.length + 1];
        for (int i = 0; i < ts.length; i++) {
            sigmas[i] = schedule.sigmaAt(ts[i]);
        }
        sigmas[ts.length] = 0;
        return new SigmaSchedule(ts, sigmas);
    }

    /** diffusers: max σ for linspace/trailing spacing, else sqrt(max σ² + 1). */
    double initNoiseSigma(String spacing) {
        double max = 0;
        for (double s : sigmas) {
            max = Math.max(max, s);
        }
        return "linspace".equals(spacing) || "trailing".equals(spacing) ? max : Math.sqrt(max * max + 1);
    }

    /** x / sqrt(σ² + 1): the model was trained on unit-variance inputs. */
    static float[] scale(float[] sample, double sigma) {
        double k = 1 / Math.sqrt(sigma * sigma + 1);
        float[] out = new float[sample.length];
        for (int i = 0; i < sample.length; i++) {
            out[i] = (float) (sample[i] * k);
        }
        return out;
    }
}
