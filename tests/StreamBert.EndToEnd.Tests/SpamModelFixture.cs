using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Jobs;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// A real spam model for the end-to-end tests: trained once per test run (heads only, on the SMS Spam
/// Collection shipped in data/) into a temporary registry shared by the tests of the collection.
/// </summary>
public sealed class SpamModelFixture : IDisposable
{
    public SpamModelFixture()
    {
        Registry = Path.Combine(Path.GetTempPath(), "streambert-e2e-" + Guid.NewGuid().ToString("N"));
        var request = TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [RepoData.SmsSpamCollection], Registry = Registry, Epochs = 20 };
        Manifest = HeadTrainingJob.RunAsync(request, TextWriter.Null, CancellationToken.None).GetAwaiter().GetResult();
    }

    public string Registry { get; }

    public BundleManifest Manifest { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Registry, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SpamModelCollection : ICollectionFixture<SpamModelFixture>
{
    public const string Name = "spam model";
}

/// <summary>Paths of the data shipped in the repository.</summary>
public static class RepoData
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new DirectoryNotFoundException("StreamBert.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string SmsSpamCollection => Path.Combine(Root, "data", "sms", "SMSSpamCollection.tsv");
}
