package dev.winnow.diffusion.scheduler;

/**
 * Timesteps with their sigmas (plus the σ after the last step) for the schedulers in the σ
 * parameterisation: diffusers' Euler family and DPM-Solver multistep. Sigmas are float32, as
 * diffusers stores them; the Karras schedule (Karras et al. 2022, "Elucidating the design
 * space", eq. 5, ρ = 7) replaces the interpolated sigmas when {@code use_karras_sigmas} is set.
 */
record SigmaSchedule(double[] timesteps, double[] sigmas) {

    static final double RHO = 7.0;

    /** EulerDiscreteScheduler / EulerAncestralDiscreteScheduler.set_timesteps. */
    static SigmaSchedule euler(NoiseSchedule schedule, int steps) {
        SchedulerSettings c = schedule.settings();
        double[] ts = Timesteps.euler(c, steps);
        double[] sig = new double[steps];
        for (int i = 0; i < steps; i++) {
            sig[i] = schedule.sigmaAt(ts[i]);
        }
        if (c.useKarrasSigmas()) {
            // Euler's Karras range is the interpolated schedule's own ends (or the config's sigma_min/max)
            sig = karras(c.sigmaMin() != null ? c.sigmaMin() : sig[steps - 1],
                    c.sigmaMax() != null ? c.sigmaMax() : sig[0], steps);
            ts = new double[steps];
            for (int i = 0; i < steps; i++) {
                ts[i] = schedule.timestepOf(sig[i]);   // fractional, as diffusers leaves them
            }
            ts = Timesteps.toFloat32(ts);
        }
        return withFinal(schedule, ts, sig);
    }

    /** DPMSolverMultistepScheduler.set_timesteps. */
    static SigmaSchedule dpmSolver(NoiseSchedule schedule, int steps) {
        SchedulerSettings c = schedule.settings();
        double[] ts;
        double[] sig;
        if (c.useKarrasSigmas()) {
            // DPM-Solver's Karras range is the whole training schedule: σ(0) .. σ(T - 1)
            sig = karras(c.sigmaMin() != null ? c.sigmaMin() : schedule.sigma(0),
                    c.sigmaMax() != null ? c.sigmaMax() : schedule.sigma(schedule.trainSteps() - 1), steps);
            ts = new double[steps];
            for (int i = 0; i < steps; i++) {
                double t = schedule.timestepOf(sig[i]);
                // diffusers rounds them to integers except for the cosine schedule (then the int64 cast truncates)
                ts[i] = "squaredcos_cap_v2".equals(c.betaSchedule()) ? (long) t : Math.rint(t);
            }
        } else {
            ts = Timesteps.dpmSolver(c, steps);
            sig = new double[steps];
            for (int i = 0; i < steps; i++) {
                sig[i] = schedule.sigmaAt(ts[i]);
            }
        }
        return withFinal(schedule, ts, sig);
    }

    /** σ_i = (σ_max^(1/ρ) + i/(n-1)·(σ_min^(1/ρ) - σ_max^(1/ρ)))^ρ, in float64. */
    static double[] karras(double sigmaMin, double sigmaMax, int steps) {
        double[] ramp = Timesteps.linspace(0, 1, steps);
        double minInvRho = Math.pow(sigmaMin, 1 / RHO);
        double maxInvRho = Math.pow(sigmaMax, 1 / RHO);
        double[] out = new double[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), RHO);
        }
        return out;
    }

    /** Appends the last σ ({@code final_sigmas_type}: 0, or σ at t = 0) and rounds them all to float32. */
    private static SigmaSchedule withFinal(NoiseSchedule schedule, double[] ts, double[] sig) {
        double[] sigmas = new double[sig.length + 1];
        for (int i = 0; i < sig.length; i++) {
            sigmas[i] = (float) sig[i];
        }
        sigmas[sig.length] = "sigma_min".equals(schedule.settings().finalSigmasType()) ? schedule.sigma(0) : 0;
        return new SigmaSchedule(ts, sigmas);
    }

    /** diffusers' Euler family: the largest σ for linspace/trailing spacing, else sqrt(max σ² + 1) (float32). */
    double initNoiseSigma(String spacing) {
        float max = 0;
        for (double s : sigmas) {
            max = Math.max(max, (float) s);
        }
        return "linspace".equals(spacing) || "trailing".equals(spacing) ? max : (float) Math.sqrt(max * max + 1f);
    }

    /** x / sqrt(σ² + 1) in float32, as diffusers' scale_model_input: the model was trained on unit-variance inputs. */
    static float[] scale(float[] sample, double sigma, float[] out) {
        float s = (float) sigma;
        float denominator = (float) Math.sqrt(s * s + 1f);
        for (int i = 0; i < sample.length; i++) {
            out[i] = sample[i] / denominator;
        }
        return out;
    }
}
