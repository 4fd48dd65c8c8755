using StreamBert.Contracts;

namespace StreamBert.Kafka;

/// <summary>Options of <c>streambert broker</c>.</summary>
public sealed record BrokerHostOptions
{
    /// <summary>Number of brokers in the embedded cluster (<c>--brokers</c>).</summary>
    public int Brokers { get; init; } = 3;

    /// <summary>Partitions of each StreamBert topic except <c>models</c> (<c>--partitions</c>).</summary>
    public int Partitions { get; init; } = 3;

    /// <summary>
    /// Where to write the bootstrap address once the topics exist (<c>--bootstrap-file</c>); the
    /// file appears atomically, holds only the address (no newline), and is removed on stop.
    /// </summary>
    public string? BootstrapFile { get; init; }
}

/// <summary>
/// <c>streambert broker</c>: runs an <see cref="EmbeddedBroker"/> with every StreamBert topic
/// until cancelled, so the demo and local runs need no Kafka installation.
/// </summary>
public static class BrokerHost
{
    /// <summary>Exit code for options that cannot be honoured.</summary>
    public const int InvalidOptionsExitCode = 2;

    // labels.spam, labels.claims and labels.entities share one dead-letter topic, labels.dlq;
    // Contracts has no constant for their common prefix.
    private const string LabelsPrefix = "labels";

    /// <summary>
    /// Starts the broker, creates the StreamBert topics, prints the bootstrap address, writes
    /// <see cref="BrokerHostOptions.BootstrapFile"/>, and serves until <paramref name="ct"/> is
    /// cancelled. Returns 0 after a cancelled run, <see cref="InvalidOptionsExitCode"/> for bad options.
    /// </summary>
    public static async Task<int> RunAsync(BrokerHostOptions options, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);

        if (options.Brokers < 1 || options.Partitions < 1)
        {
            await output.WriteLineAsync($"error: --brokers and --partitions must be at least 1 (got {options.Brokers} and {options.Partitions}).");
            return InvalidOptionsExitCode;
        }

        using var broker = EmbeddedBroker.Start(options.Brokers, options.Partitions);
        var topics = CreateStreamBertTopics(broker, options.Partitions);

        await output.WriteLineAsync(
            $"Embedded Kafka (librdkafka mock cluster, {options.Brokers} brokers, in memory, data lost on stop).");
        await output.WriteLineAsync($"Topics ({options.Partitions} partitions, {Topics.Models} and {Topics.TrainerRuns}: 1): {string.Join(", ", topics)}");
        await output.WriteLineAsync("Each partition keeps at most about 5 MiB or 100,000 messages; older ones are dropped.");
        await output.WriteLineAsync($"Bootstrap servers: {broker.BootstrapServers}");

        try
        {
            if (options.BootstrapFile is { } file)
            {
                WriteAtomically(file, broker.BootstrapServers);
                await output.WriteLineAsync($"Bootstrap address written to {file}");
            }

            await output.WriteLineAsync("Ready. Stop with Ctrl+C.");
            await output.FlushAsync(CancellationToken.None);

            await Task.Delay(Timeout.InfiniteTimeSpan, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            // Nobody should find an address that no longer answers.
            if (options.BootstrapFile is { } file)
            {
                DeleteIfStillOurs(file, broker.BootstrapServers);
            }
        }

        await output.WriteLineAsync("Embedded Kafka stopped.");
        return 0;
    }

    /// <summary>
    /// Creates every topic of <see cref="Topics"/> on <paramref name="broker"/>: inputs, outputs,
    /// labels and dead-letter topics with <paramref name="partitions"/> partitions, <c>models</c>
    /// with one, so the latest bundle event per name is read in publish order, and <c>trainer.runs</c> with one.
    /// </summary>
    /// <returns>The topic names, in creation order.</returns>
    public static IReadOnlyList<string> CreateStreamBertTopics(EmbeddedBroker broker, int partitions)
    {
        ArgumentNullException.ThrowIfNull(broker);
        string[] partitioned =
        [
            Topics.Messages, Topics.MessagesSpam, Topics.DeadLetterOf(Topics.Messages),
            Topics.Articles, Topics.ArticlesClaims, Topics.ArticlesEntities, Topics.DeadLetterOf(Topics.Articles),
            Topics.LabelsSpam, Topics.LabelsClaims, Topics.LabelsEntities, Topics.DeadLetterOf(LabelsPrefix),
        ];

        foreach (var topic in partitioned)
        {
            broker.CreateTopic(topic, partitions);
        }

        broker.CreateTopic(Topics.Models, partitions: 1);

        // One partition: the desk lists runs in the order the trainer finished them.
        broker.CreateTopic(Topics.TrainerRuns, partitions: 1);
        return [.. partitioned, Topics.Models, Topics.TrainerRuns];
    }

    private static void WriteAtomically(string path, string contents)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);

        // Readers poll for the file; writing a temporary file in the same directory and renaming
        // it means they never see it empty or half written.
        var temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(temporary, contents);
        File.Move(temporary, full, overwrite: true);
    }

    private static void DeleteIfStillOurs(string path, string bootstrapServers)
    {
        // A newer broker may have taken the file over; its address must survive our shutdown.
        if (File.Exists(path) && File.ReadAllText(path) == bootstrapServers)
        {
            File.Delete(path);
        }
    }
}
