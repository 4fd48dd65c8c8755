namespace StreamBert.Cli;

/// <summary>Finds the data shipped in the repository and the research data sets beside it.</summary>
internal static class RepoPaths
{
    /// <summary>The repository's <c>data/</c> folder, searched upward from the working and application directories.</summary>
    public static string? ShippedData()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "data", "sms", "SMSSpamCollection.tsv");
                if (File.Exists(candidate))
                {
                    return Path.Combine(dir.FullName, "data");
                }
            }
        }

        return null;
    }

    /// <summary>Research-only data (CoNLL-2003, Enron): <c>STREAMBERT_DATA</c>, else <c>../shared/data</c> beside the repository.</summary>
    public static string? ResearchData()
    {
        if (Environment.GetEnvironmentVariable("STREAMBERT_DATA") is { Length: > 0 } configured)
        {
            return Directory.Exists(configured) ? configured : null;
        }

        var shipped = ShippedData();
        if (shipped is null)
        {
            return null;
        }

        var candidate = Path.GetFullPath(Path.Combine(shipped, "..", "..", "shared", "data"));
        return Directory.Exists(candidate) ? candidate : null;
    }
}
