package dev.winnow.modelpack;

/**
 * Which model made something: a pipeline pack's or a judge's name and version. Every response,
 * event, metric, log line, PNG and preference row that mentions a model carries one, so that
 * images made by two versions of a pack are never mistaken for one another.
 *
 * @param version the version the folder declares ({@code winnow_version}), or {@code sha256-} and
 *                the first 12 hex digits of a hash of its files ({@link PackVersion})
 */
public record ModelVersion(String name, String version) {

    /** {@code name@version}, as logs print it. */
    @Override
    public String toString() {
        return name + "@" + version;
    }
}
