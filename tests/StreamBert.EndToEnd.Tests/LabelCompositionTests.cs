using StreamBert.Trainer;
using StreamBert.Training.Data;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// What a trainer run trains, calibrates and judges on (<see cref="LabelTrainingJob.ComposeBinary"/>,
/// <see cref="LabelTrainingJob.ComposeNer"/>): the learning-curve scenario measures through these, so they are pinned
/// here without a broker or a model.
/// </summary>
public sealed class LabelCompositionTests
{
    private static readonly HashSet<string> NoFixedTexts = new(StringComparer.Ordinal);

    private static List<LabeledText> Rows(string prefix, int count) =>
        [.. Enumerable.Range(0, count).Select(i => new LabeledText($"{prefix} {i}", i % 4 == 0 ? "spam" : "ham"))];

    [Fact]
    public void ComposeBinary_LabelWeight_RepeatsEachTrainedLabelAndKeepsHeldOutLabelsOut()
    {
        var labels = Rows("email", 400);

        var once = LabelTrainingJob.ComposeBinary([], labels, 1, NoFixedTexts);
        var four = LabelTrainingJob.ComposeBinary([], labels, 4, NoFixedTexts);

        Assert.Equal(once.LabelTrainTexts * 4, four.Train.Count);
        Assert.Equal(once.Train.Select(r => r.Text).Distinct(), four.Train.Select(r => r.Text).Distinct());
        Assert.All(four.HeldOutLabels, r => Assert.True(LabelTrainingJob.IsHeldOut(r.Text)));
        var trained = four.Train.Select(r => r.Text).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(four.HeldOutLabels, r => trained.Contains(r.Text));
        Assert.DoesNotContain(four.Calibration, r => trained.Contains(r.Text));
        Assert.Equal(400, four.HeldOutLabels.Count + four.LabelTrainTexts + four.LabelCalibration.Count);
    }

    [Fact]
    public void ComposeBinary_LabelForABaseText_ReplacesTheBaseRowAndTheLatestLabelWins()
    {
        var baseRows = Rows("sms", 300);
        // A text of the base data's train split that a reviewer relabels twice; the second label counts.
        var relabelled = baseRows.First(r => !DatasetSplit.IsTest(r.Text) && !LabelTrainingJob.IsHeldOut(r.Text) && !HeadCalibrationRow(r.Text));
        var flipped = relabelled.Label == "spam" ? "ham" : "spam";

        var rows = LabelTrainingJob.ComposeBinary(baseRows, [relabelled with { Label = "spam" }, relabelled with { Label = flipped }], 3, NoFixedTexts);

        Assert.Equal(Enumerable.Repeat(flipped, 3), rows.Train.Where(r => r.Text == relabelled.Text).Select(r => r.Label));
    }

    [Fact]
    public void ComposeBinary_AnyLabelOrder_SameRows()
    {
        var baseRows = Rows("sms", 200);
        var labels = Rows("email", 100);

        var a = LabelTrainingJob.ComposeBinary(baseRows, labels, 4, NoFixedTexts);
        var b = LabelTrainingJob.ComposeBinary(baseRows, [.. Enumerable.Reverse(labels)], 4, NoFixedTexts);

        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Calibration, b.Calibration);
        Assert.Equal(a.HeldOutLabels, b.HeldOutLabels);
    }

    [Fact]
    public void ComposeNer_LabelledSentences_ReplaceBaseAndRepeatByWeight()
    {
        NerSentence Sentence(string word, string tag) => new([word, "said"], [tag, "O"]);
        var baseSentences = Enumerable.Range(0, 50).Select(i => Sentence($"Name{i}", "B-PER")).ToList();
        var labels = Enumerable.Range(0, 50).Select(i => Sentence($"Name{i}", "B-ORG")).ToList();

        var (train, heldOut) = LabelTrainingJob.ComposeNer(baseSentences, labels, 2);

        var trainedLabels = labels.Count - heldOut.Count;
        Assert.Equal((trainedLabels * 2) + 0, train.Count(s => s.Tags[0] == "B-ORG"));
        // Every base sentence was relabelled, so none of them trains with its old tags.
        Assert.DoesNotContain(train, s => s.Tags[0] == "B-PER");
        Assert.All(heldOut, s => Assert.True(LabelTrainingJob.IsHeldOut(LabelTrainingJob.SentenceKey(s))));
    }

    private static bool HeadCalibrationRow(string text) => Training.Calibration.HeadCalibration.IsCalibrationRow(text);
}
