using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;

namespace StreamBert.Processor.Hosting;

/// <summary>What the processor serves: the loaded models and the input topics they cover.</summary>
public sealed record ServingPlan(ModelSet Models, IReadOnlyList<string> Topics, SessionSettings Settings);

/// <summary>Loads the current version of each configured bundle from the registry.</summary>
public static class ModelLoader
{
    public static ServingPlan Load(ProcessorOptions options, TopicNames topics)
    {
        var registry = new ModelRegistry(options.Registry);
        var directories = new List<string>();
        var inputTopics = new List<string>();
        if (registry.CurrentDirectory(options.SpamBundle) is { } spam)
        {
            directories.Add(spam);
            inputTopics.Add(topics.Messages);
        }

        var taskBundles = new Dictionary<string, string>(StringComparer.Ordinal);
        if (registry.CurrentDirectory(options.ArticlesBundle) is { } articles)
        {
            directories.Add(articles);
            inputTopics.Add(topics.Articles);
            if (options.NerBundle is { Length: > 0 } nerBundle)
            {
                directories.Add(registry.CurrentDirectory(nerBundle)
                    ?? throw new InvalidOperationException($"The registry {registry.Root} has no current version of the NER bundle '{nerBundle}'."));
                taskBundles[TaskNames.Ner] = nerBundle;
            }
        }

        if (directories.Count == 0)
        {
            throw new InvalidOperationException(
                $"The registry {registry.Root} has no current version of '{options.SpamBundle}' or '{options.ArticlesBundle}'; train one with 'streambert train'.");
        }

        var settings = SessionSettingsOf(options);
        return new ServingPlan(ModelSet.Load(directories, settings, taskBundles: taskBundles), inputTopics, settings);
    }

    public static SessionSettings SessionSettingsOf(ProcessorOptions options) => new()
    {
        Device = options.Device switch
        {
            "cpu" => DevicePreference.Cpu,
            "cuda" => DevicePreference.Cuda,
            _ => DevicePreference.Auto,
        },
        IntraOpThreads = options.IntraOpThreads,
        Packing = options.Packing,
        HeadsInGraph = options.HeadsInGraph,
        CpuGraphTuning = options.CpuGraphTuning,
        AttentionCostLength = options.PackingAttentionLength > 0 ? options.PackingAttentionLength : null,
        Precision = EncoderPrecisions.Parse(options.Precision, "Processor:Precision"),
    };
}
