namespace StreamBert.Training.Tests;

/// <summary>
/// Locates the shared data sets: <c>$STREAMBERT_DATA</c> if set, otherwise <c>&lt;repo&gt;/../shared/data</c>, where the
/// repository root is the nearest folder above the test assembly that holds <c>StreamBert.sln</c>.
/// </summary>
internal static class TestData
{
    public const string EnvironmentVariable = "STREAMBERT_DATA";

    private static readonly Lazy<string?> RootDirectory = new(FindRoot);

    /// <summary>The data folder, or null when it does not exist.</summary>
    public static string? Root => RootDirectory.Value;

    /// <summary>Full path of a file under the data folder (which may not exist).</summary>
    public static string PathOf(string relative) =>
        Path.Combine(Root ?? throw new InvalidOperationException(MissingReason(relative)), relative);

    /// <summary>Null when every file exists, otherwise why a test needing them is skipped.</summary>
    public static string? MissingReason(params string[] relativePaths)
    {
        if (Root is null)
        {
            return $"shared data not found: set {EnvironmentVariable} or place it at <repo>/../shared/data " +
                   $"(looked at {CandidateRoot() ?? "<no StreamBert.sln above " + AppContext.BaseDirectory + ">"})";
        }

        var missing = relativePaths.Where(p => !File.Exists(Path.Combine(Root, p))).ToArray();
        return missing.Length == 0 ? null : $"shared data file(s) missing under {Root}: {string.Join(", ", missing)}";
    }

    private static string? FindRoot()
    {
        string? candidate = CandidateRoot();
        return candidate is not null && Directory.Exists(candidate) ? candidate : null;
    }

    private static string? CandidateRoot()
    {
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
            }
        }

        return null;
    }
}

/// <summary>A fact that needs files from the shared data folder; it is skipped, with the reason shown, when they are absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class DataFactAttribute : FactAttribute
{
    public DataFactAttribute(params string[] relativePaths)
    {
        string? reason = TestData.MissingReason(relativePaths);
        if (reason is not null)
        {
            Skip = reason;
        }
    }
}
