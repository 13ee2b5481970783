/**
 * Capacity planning: how many requests a second one device serves, at what latency, with which
 * N, steps and pruning (docs/CAPACITY.md).
 *
 * <ul>
 * <li>{@link dev.winnow.capacity.DeviceProfile}: milliseconds per call by batch size of each model
 *     ({@link dev.winnow.capacity.Curve}), plus the engine's host costs; written by
 *     {@link dev.winnow.capacity.ProfileCommand} from the real pack on the node it runs on, or
 *     built from the shared H200 curves by {@link dev.winnow.capacity.H200Profiles}.</li>
 * <li>{@link dev.winnow.capacity.Simulator}: a discrete-event simulation in virtual time in which
 *     the engine's own {@link dev.winnow.engine.StepScheduler} plans every step and its own
 *     {@link dev.winnow.engine.FinishingLanes} order the finishing, while each model call takes the
 *     profile's time; two baselines (one request at a time, request-level batching) on the same
 *     device. Arrivals ({@link dev.winnow.capacity.Workloads}): Poisson or a recorded trace.</li>
 * <li>{@link dev.winnow.capacity.SimReport}: throughput, latency percentiles, queue depth over
 *     time, device busy share.</li>
 * <li>{@link dev.winnow.capacity.CapacityCommand}: {@code simulate} and {@code table}.</li>
 * </ul>
 *
 * Uses the engine's scheduling types and, for profiling only, the model wrappers; nothing in the
 * service uses this package.
 */
package dev.winnow.capacity;
