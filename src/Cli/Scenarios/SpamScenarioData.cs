using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>The data and starting model both labelling scenarios share: the SMS-only spam model, its base data, and the new domain's rows.</summary>
internal sealed record SpamScenarioData(string BundleDirectory, string BundleVersion, IReadOnlyList<LabeledText> BaseRows, IReadOnlyList<LabeledText> DomainRows, string DomainName)
{
    /// <summary>
    /// The SMS-only model: the current spam version of <paramref name="registry"/>, else one trained into it as
    /// <c>streambert train --task spam</c> does (heads only, calibrated, operating point for FPR ≤ 1%), so a second run reuses it.
    /// The new domain: Enron1 from the research data when present, else null.
    /// </summary>
    public static async Task<SpamScenarioData> LoadAsync(string registry, TextWriter output, CancellationToken ct)
    {
        var sms = Path.Combine(RepoPaths.ShippedData() ?? throw new InvalidOperationException("data/sms/SMSSpamCollection.tsv not found above the working or application directory."), "sms", "SMSSpamCollection.tsv");
        var models = new ModelRegistry(registry);
        if (models.CurrentDirectory(TaskDefaults.BundleOf(TaskNames.Spam)) is null)
        {
            output.WriteLine($"Training the SMS-only spam model (heads only, as 'streambert train --task spam') into {registry}…");
            await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sms], Registry = registry }, TextWriter.Null, ct).ConfigureAwait(false);
        }

        var directory = models.CurrentDirectory(TaskDefaults.BundleOf(TaskNames.Spam))!;
        var manifest = ModelRegistry.ReadManifest(directory);
        var baseRows = SequenceData.Read(TaskNames.Spam, sms).ToList();
        if (RepoPaths.ResearchData() is { } research
            && Path.Combine(research, "spam", "enron1_ham.jsonl") is var ham && File.Exists(ham)
            && Path.Combine(research, "spam", "enron1_spam.jsonl") is var spam && File.Exists(spam))
        {
            return new SpamScenarioData(directory, manifest.Version, baseRows, [.. SpamDataReader.Read(ham), .. SpamDataReader.Read(spam)], "Enron1");
        }

        return new SpamScenarioData(directory, manifest.Version, baseRows, [], "none");
    }
}
