namespace StreamBert.Contracts;

/// <summary>Label sets of the tasks. Index order is the order of the model's output logits.</summary>
public static class LabelSets
{
    public const string Spam = "spam";
    public const string Ham = "ham";
    public const string Claim = "claim";
    public const string NoClaim = "no-claim";

    /// <summary>Spam head outputs: index 0 ham, index 1 spam.</summary>
    public static readonly IReadOnlyList<string> SpamLabels = [Ham, Spam];

    /// <summary>Claim head outputs: index 0 no-claim, index 1 claim.</summary>
    public static readonly IReadOnlyList<string> ClaimLabels = [NoClaim, Claim];

    /// <summary>Entity types the NER head tags.</summary>
    public static readonly IReadOnlyList<string> EntityTypes = ["PER", "ORG", "LOC", "MISC"];

    /// <summary>BIO tags of the NER head, in logit order.</summary>
    public static readonly IReadOnlyList<string> NerTags =
        ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"];
}

/// <summary>Tasks a model bundle can serve.</summary>
public static class TaskNames
{
    public const string Spam = "spam";
    public const string Claims = "claims";
    public const string Ner = "ner";
}
