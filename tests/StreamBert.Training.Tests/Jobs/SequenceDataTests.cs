using StreamBert.Contracts;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.Training.Tests.Jobs;

/// <summary>
/// <see cref="TrainRequest.ExcludeFiles"/>: the texts of another file leave training and calibration, while the
/// held-out split stays the one <c>eval --held-out</c> measures, so one model can be judged in its own domain and on
/// the other file.
/// </summary>
public sealed class SequenceDataTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "streambert-seqdata-" + Guid.NewGuid().ToString("N"));

    public SequenceDataTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Split_ExcludeFiles_RemovesTheirTextsFromTrainingAndCalibrationButNotFromTheTest()
    {
        var texts = Enumerable.Range(0, 300).Select(i => $"The budget grew by {i} percent in year {i % 17}.").ToList();
        var data = WriteClaims("crowd.csv", texts);
        // 40 texts shared with the data (on both sides of the split) and 10 it does not have.
        var shared = texts.Where((_, i) => i % 7 == 0).Take(40).ToList();
        var exclude = WriteClaims("groundtruth.csv", [.. shared, .. Enumerable.Range(0, 10).Select(i => $"Only the expert set says {i}.")]);
        var request = TrainRequest.ForTask(TaskNames.Claims) with { DataFiles = [data], Registry = _dir };

        var without = SequenceData.Split(request, TextWriter.Null, calibrationPercent: 20);
        var with = SequenceData.Split(request with { ExcludeFiles = [exclude] }, TextWriter.Null, calibrationPercent: 20);

        var excluded = shared.ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(with.Train, r => excluded.Contains(r.Text));
        Assert.DoesNotContain(with.Calibration, r => excluded.Contains(r.Text));
        Assert.Equal(without.Test, with.Test);
        Assert.Contains(with.Test, r => excluded.Contains(r.Text));
        var onTrainSide = shared.Count(t => !DatasetSplit.IsTest(t));
        Assert.InRange(onTrainSide, 1, shared.Count - 1);
        Assert.NotNull(with.Excluded);
        Assert.Equal(["groundtruth.csv"], with.Excluded.Files);
        Assert.Equal(50, with.Excluded.Texts);
        Assert.Equal(onTrainSide, with.Excluded.RowsRemoved);
        Assert.Equal(without.Train.Count + without.Calibration.Count - onTrainSide, with.Train.Count + with.Calibration.Count);
        Assert.Null(without.Excluded);
    }

    [Fact]
    public void Record_Excluded_WritesTheFilesAndTheCountsIntoTheTrainingRecord()
    {
        var training = new Dictionary<string, string>();

        new ExcludedTexts(["claimbuster_groundtruth.csv", "other.csv"], 1031, 10).Record(training);

        Assert.Equal("claimbuster_groundtruth.csv;other.csv", training[ExcludedTexts.FilesKey]);
        Assert.Equal("1031 texts of claimbuster_groundtruth.csv, other.csv; 10 training or calibration rows had one and were removed", training[ExcludedTexts.SummaryKey]);
    }

    [Fact]
    public void HeadTrainingJob_NerWithExcludeFiles_Refused()
    {
        var request = TrainRequest.ForTask(TaskNames.Ner) with { DataFiles = ["train.txt"], Registry = _dir, ExcludeFiles = ["other.txt"] };

        var error = Assert.Throws<ArgumentException>(() => HeadTrainingJob.Run(request, TextWriter.Null, CancellationToken.None));

        Assert.Contains("ExcludeFiles", error.Message, StringComparison.Ordinal);
    }

    private string WriteClaims(string name, IReadOnlyList<string> texts)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, ["Text,Verdict", .. texts.Select((t, i) => $"\"{t}\",{(i % 4 == 0 ? 1 : -1)}")]);
        return path;
    }
}
