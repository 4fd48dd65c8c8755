namespace StreamBert.Cli;

/// <summary>
/// The NER data a run uses when none is named: CoNLL-2003 from the research data when it is there (its own
/// valid and test files), else Wikigold shipped in <c>data/ner/</c>, which has no official split and so holds out
/// documents. CoNLL-2003 cannot be redistributed; Wikigold (CC BY 4.0) lets a fresh clone train NER at all.
/// </summary>
/// <param name="Name">The data set, for the log.</param>
/// <param name="Train">Training file.</param>
/// <param name="Dev">Development file for early stopping, if the data set has one.</param>
/// <param name="Eval">Test file, if the data set has one.</param>
/// <param name="HoldOutPercent">Share of the training file's documents held out for evaluation when there is no test file.</param>
internal sealed record NerTrainingData(string Name, string Train, string? Dev, string? Eval, int? HoldOutPercent)
{
    /// <summary>About 15% of Wikigold's 145 documents: enough entities (several hundred) for a stable F1.</summary>
    public const int WikigoldHoldOutPercent = 15;

    public static NerTrainingData? Find()
    {
        if (RepoPaths.ResearchData() is { } research && Path.Combine(research, "ner", "conll2003_train.txt") is var train && File.Exists(train))
        {
            return new NerTrainingData(
                "CoNLL-2003",
                train,
                ExistingOrNull(Path.Combine(research, "ner", "conll2003_valid.txt")),
                ExistingOrNull(Path.Combine(research, "ner", "conll2003_test.txt")),
                HoldOutPercent: null);
        }

        if (RepoPaths.ShippedData() is { } shipped && Path.Combine(shipped, "ner", "wikigold.conll.txt") is var wikigold && File.Exists(wikigold))
        {
            return new NerTrainingData("Wikigold (shipped in data/ner, CC BY 4.0; CoNLL-2003 not found under STREAMBERT_DATA)", wikigold, Dev: null, Eval: null, WikigoldHoldOutPercent);
        }

        return null;
    }

    private static string? ExistingOrNull(string path) => File.Exists(path) ? path : null;
}
