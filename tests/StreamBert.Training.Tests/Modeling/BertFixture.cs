using Onnx;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Modeling;

namespace StreamBert.Training.Tests.Modeling;

/// <summary>
/// The pretrained encoder loaded once into TorchSharp, its original ONNX graph, the tokenizer, and real texts from the
/// repository's data folder (SMS messages and ClaimBuster debate sentences, long and short, with digits and capitals).
/// </summary>
public sealed class BertFixture : IDisposable
{
    public const int MaxLength = 64;

    public BertFixture()
    {
        var pretrained = MiniLmResources.Ensure();
        Original = ModelProto.Parser.ParseFrom(File.ReadAllBytes(pretrained.ModelPath));
        Encoder = BertEncoder.FromOnnx(pretrained.ModelPath);
        Tokenizer = WordPieceTokenizer.FromFile(pretrained.VocabPath);
        var data = Path.Combine(RepositoryRoot(), "data");
        var sms = SpamDataReader.Read(Path.Combine(data, "sms", "SMSSpamCollection.tsv")).Select(r => r.Text);
        var claims = ClaimDataReader.Read(Path.Combine(data, "claimbuster", "claimbuster_groundtruth.csv")).Select(r => r.ToLabeledText().Text);
        // Every 37th row: a spread of lengths and styles rather than the file's first lines.
        Texts = [.. sms.Where((_, i) => i % 37 == 0).Take(12), .. claims.Where((_, i) => i % 37 == 0).Take(12)];
    }

    public ModelProto Original { get; }

    public BertEncoder Encoder { get; }

    public WordPieceTokenizer Tokenizer { get; }

    public IReadOnlyList<string> Texts { get; }

    public void Dispose() => Encoder.Dispose();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No StreamBert.sln above {AppContext.BaseDirectory}.");
    }
}

[CollectionDefinition(Name)]
public sealed class BertCollection : ICollectionFixture<BertFixture>
{
    // TorchSharp and ONNX Runtime both use every core; running these classes one at a time keeps each test's timing honest.
    public const string Name = "Bert";
}
