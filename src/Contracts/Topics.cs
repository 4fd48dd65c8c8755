namespace StreamBert.Contracts;

/// <summary>
/// Default topic names. Every host reads its names from configuration (<c>Topics</c> section)
/// and falls back to these, so a deployment can prefix or rename topics without a rebuild.
/// </summary>
public static class Topics
{
    /// <summary>Key: message id (UTF-8). Value: <see cref="MessageInput"/> JSON or a raw RFC 822 email.</summary>
    public const string Messages = "messages";

    /// <summary>Key: message id. Value: <see cref="SpamLabel"/> JSON.</summary>
    public const string MessagesSpam = "messages.spam";

    /// <summary>Key: article id (UTF-8). Value: <see cref="ArticleInput"/> JSON.</summary>
    public const string Articles = "articles";

    /// <summary>Key: article id. Value: <see cref="ClaimsOutput"/> JSON.</summary>
    public const string ArticlesClaims = "articles.claims";

    /// <summary>Key: article id. Value: <see cref="EntitiesOutput"/> JSON.</summary>
    public const string ArticlesEntities = "articles.entities";

    /// <summary>Key: item id. Value: a reviewer's label for a text (see the training service).</summary>
    public const string LabelsSpam = "labels.spam";

    /// <summary>Key: item id. Value: a reviewer's claim label for a sentence.</summary>
    public const string LabelsClaims = "labels.claims";

    /// <summary>Key: item id. Value: a reviewer's entity spans for a text.</summary>
    public const string LabelsEntities = "labels.entities";

    /// <summary>Label records the training service could not use: original key and value, reason in <see cref="ErrorHeader"/>.</summary>
    public const string LabelsDlq = "labels.dlq";

    /// <summary>Compacted. Key: bundle name. Value: ModelPublished JSON.</summary>
    public const string Models = "models";

    /// <summary>
    /// Key: bundle name. Value: <see cref="TrainingRunReport"/> JSON, one per training run (published, refused or failed),
    /// sent after the verdict. Not compacted: the history of runs is what the reviewer's desk shows.
    /// </summary>
    public const string TrainerRuns = "trainer.runs";

    /// <summary>Suffix of the dead-letter topic of an input topic: key and value are the original bytes.</summary>
    public const string DeadLetterSuffix = ".dlq";

    /// <summary>Header on a dead-letter record: why the input was rejected (UTF-8 text).</summary>
    public const string ErrorHeader = "streambert-error";

    /// <summary>The dead-letter topic of <paramref name="inputTopic"/>.</summary>
    public static string DeadLetterOf(string inputTopic) => inputTopic + DeadLetterSuffix;
}
