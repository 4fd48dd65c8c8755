using StreamBert.Cli.Scenarios;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The labelling scenarios score from cached features instead of running the processor's path; this pins that the two
/// agree, long texts (several windows) included, and that the cache gives back what was encoded.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class SpamHeadLabTests(SpamModelFixture model) : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "streambert-lab-cache-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Margin_CachedWindowFeatures_MatchTheServingPathAndTheCacheRoundTrips()
    {
        var directory = new ModelRegistry(model.Registry).CurrentDirectory(TaskNames.Spam)!;
        var sms = SpamDataReader.Read(RepoData.SmsSpamCollection).Select(r => r.Text).Distinct().Take(40).ToList();
        // Longer than one 128-piece window: served as the maximum over windows.
        var texts = sms.Concat([string.Join(" ", sms.Take(12)), string.Join(" ", sms.Skip(12).Take(25))]).ToList();
        var target = OperatingPointFinder.DefaultTarget(TaskNames.Spam);

        var lab = SpamHeadLab.Create(directory, texts, target, TextWriter.Null, CancellationToken.None, _cache);
        var cached = SpamHeadLab.Create(directory, texts, target, TextWriter.Null, CancellationToken.None, _cache);
        float[] served;
        using (var models = ModelSet.Load([directory]))
        {
            served = new OfflineScorer(models).MarginTexts(texts, TaskNames.Spam);
        }

        for (var i = 0; i < texts.Count; i++)
        {
            Assert.Equal(served[i], lab.Margin(lab.BaseHead, texts[i]), 1e-3);
            Assert.Equal(lab.Margin(lab.BaseHead, texts[i]), cached.Margin(cached.BaseHead, texts[i]));
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }
}

public sealed class FeatureFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "streambert-features-" + Guid.NewGuid().ToString("N") + ".bin");

    [Fact]
    public void Read_TornLastRecord_KeepsWholeRecordsAndCutsTheRestSoAppendsStayReadable()
    {
        FeatureFile.Append(_path, new Dictionary<string, float[][]> { ["a"] = [[1f, 2f], [3f, 4f]] });
        var whole = new FileInfo(_path).Length;
        FeatureFile.Append(_path, new Dictionary<string, float[][]> { ["b"] = [[5f, 6f]] });
        using (var file = new FileStream(_path, FileMode.Open))
        {
            file.SetLength(whole + 5); // a run killed while writing "b"
        }

        var read = FeatureFile.Read(_path);
        var afterRead = new FileInfo(_path).Length;
        FeatureFile.Append(_path, new Dictionary<string, float[][]> { ["c"] = [[7f, 8f]] });
        var again = FeatureFile.Read(_path);

        Assert.Equal(["a"], read.Keys);
        Assert.Equal(whole, afterRead);
        Assert.Equal(["a", "c"], again.Keys.Order());
        Assert.Equal([7f, 8f], again["c"][0]);
        Assert.Equal([3f, 4f], again["a"][1]);
    }

    public void Dispose()
    {
        if (File.Exists(_path))
        {
            File.Delete(_path);
        }
    }
}
