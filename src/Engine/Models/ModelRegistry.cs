using System.Globalization;
using System.Text.Json;
using StreamBert.Contracts;

namespace StreamBert.Engine.Models;

/// <summary>
/// A folder of immutable model bundles, <c>&lt;root&gt;/&lt;bundle&gt;/&lt;version&gt;/</c>, plus a
/// <c>&lt;root&gt;/&lt;bundle&gt;/CURRENT</c> file naming the version processors serve. Versions are
/// <c>v1</c>, <c>v2</c>, … in order of creation. A version folder is written under a temporary name and
/// renamed into place, so readers never see a half-written bundle.
/// </summary>
public sealed class ModelRegistry
{
    public const string ManifestFile = "manifest.json";
    private const string CurrentFile = "CURRENT";

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public ModelRegistry(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    /// <summary>Default registry: <c>STREAMBERT_REGISTRY</c>, else <c>./.streambert/registry</c>.</summary>
    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("STREAMBERT_REGISTRY") is { Length: > 0 } root
            ? root
            : Path.Combine(Directory.GetCurrentDirectory(), ".streambert", "registry");

    public string BundleDirectory(string bundle, string version) => Path.Combine(Root, bundle, version);

    public IReadOnlyList<string> Bundles() =>
        Directory.Exists(Root)
            ? [.. Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]
            : [];

    /// <summary>Complete versions of a bundle, oldest first.</summary>
    public IReadOnlyList<string> Versions(string bundle)
    {
        var dir = Path.Combine(Root, bundle);
        if (!Directory.Exists(dir))
        {
            return [];
        }

        return [.. Directory.GetDirectories(dir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(v => TryParseVersion(v, out _) && File.Exists(Path.Combine(dir, v, ManifestFile)))
            .OrderBy(v => { TryParseVersion(v, out var n); return n; })];
    }

    /// <summary>The version processors should serve, or null when the bundle has none.</summary>
    public string? CurrentVersion(string bundle)
    {
        var file = Path.Combine(Root, bundle, CurrentFile);
        if (File.Exists(file))
        {
            var version = File.ReadAllText(file).Trim();
            if (Directory.Exists(BundleDirectory(bundle, version)))
            {
                return version;
            }
        }

        return null;
    }

    public string? CurrentDirectory(string bundle) =>
        CurrentVersion(bundle) is { } v ? BundleDirectory(bundle, v) : null;

    public BundleManifest ReadManifest(string bundle, string version) => ReadManifest(BundleDirectory(bundle, version));

    /// <summary>File name → lowercase hex sha256 of every file in a bundle folder but the manifest (its <c>files</c> map).</summary>
    public static Dictionary<string, string> HashFiles(string bundleDirectory) =>
        Directory.GetFiles(bundleDirectory).Where(f => Path.GetFileName(f) != ManifestFile)
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), FileHash.Sha256);

    public static BundleManifest ReadManifest(string bundleDirectory)
    {
        var path = Path.Combine(bundleDirectory, ManifestFile);
        using var stream = File.OpenRead(path);
        return JsonSerializer.Deserialize<BundleManifest>(stream, Json)
            ?? throw new InvalidDataException($"{path} is empty.");
    }

    /// <summary>Marks <paramref name="version"/> as the one to serve (atomic replace of CURRENT).</summary>
    public void SetCurrent(string bundle, string version)
    {
        if (!File.Exists(Path.Combine(BundleDirectory(bundle, version), ManifestFile)))
        {
            throw new InvalidOperationException($"Bundle {bundle} has no version {version} in {Root}.");
        }

        var file = Path.Combine(Root, bundle, CurrentFile);
        var temp = file + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllText(temp, version + "\n");
        File.Move(temp, file, overwrite: true);
    }

    /// <summary>
    /// Writes a new version: <paramref name="writeFiles"/> fills a staging folder, then the manifest is
    /// completed with the next version number and the sha256 of every file, and the folder is renamed into place.
    /// </summary>
    public BundleManifest Publish(string bundle, Action<string> writeFiles, Func<string, IReadOnlyDictionary<string, string>, BundleManifest> manifestFor, bool makeCurrent = true)
    {
        var bundleDir = Path.Combine(Root, bundle);
        Directory.CreateDirectory(bundleDir);
        var staging = Path.Combine(bundleDir, ".staging-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            writeFiles(staging);
            var files = HashFiles(staging);
            while (true)
            {
                var version = NextVersion(bundle);
                var manifest = manifestFor(version, files);
                File.WriteAllText(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(manifest, Json));
                try
                {
                    // Directory.Move fails if the target exists: two writers racing for a number both stay intact.
                    Directory.Move(staging, BundleDirectory(bundle, version));
                }
                catch (IOException) when (Directory.Exists(BundleDirectory(bundle, version)))
                {
                    continue;
                }

                if (makeCurrent)
                {
                    SetCurrent(bundle, version);
                }

                return manifest;
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>
    /// Makes the version before the current one current again (the highest existing version number below
    /// it) and returns it; throws when there is none.
    /// </summary>
    public string Rollback(string bundle)
    {
        var current = CurrentVersion(bundle) ?? throw new InvalidOperationException($"Bundle {bundle} has no current version in {Root}.");
        TryParseVersion(current, out var currentNumber);
        var previous = Versions(bundle).LastOrDefault(v => TryParseVersion(v, out var n) && n < currentNumber)
            ?? throw new InvalidOperationException($"Bundle {bundle} has no version before {current}.");
        SetCurrent(bundle, previous);
        return previous;
    }

    /// <summary>The event that announces <paramref name="version"/> of <paramref name="bundle"/> to processors.</summary>
    public ModelPublished EventFor(string bundle, string version, string reason)
    {
        var manifest = ReadManifest(bundle, version);
        return new ModelPublished
        {
            Name = bundle,
            Version = version,
            Path = BundleDirectory(bundle, version),
            Sha256 = manifest.Files,
            Metrics = manifest.Metrics,
            ParentVersion = manifest.ParentVersion,
            Reason = reason,
            PublishedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>Checks every file against the manifest's sha256; returns the first problem or null.</summary>
    public static string? Verify(string bundleDirectory)
    {
        BundleManifest manifest;
        try
        {
            manifest = ReadManifest(bundleDirectory);
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidDataException or UnauthorizedAccessException)
        {
            return $"manifest unreadable: {ex.Message}";
        }

        foreach (var (file, sha) in manifest.Files)
        {
            var path = Path.Combine(bundleDirectory, file);
            if (!File.Exists(path))
            {
                return $"{file} is missing";
            }

            var actual = FileHash.Sha256(path);
            if (actual != sha)
            {
                return $"{file} has sha256 {actual}, manifest says {sha}";
            }
        }

        return null;
    }

    private string NextVersion(string bundle)
    {
        var max = 0;
        var dir = Path.Combine(Root, bundle);
        foreach (var name in Directory.GetDirectories(dir).Select(Path.GetFileName))
        {
            if (name is not null && TryParseVersion(name, out var n))
            {
                max = Math.Max(max, n);
            }
        }

        return "v" + (max + 1).ToString(CultureInfo.InvariantCulture);
    }

    public static bool TryParseVersion(string version, out int number)
    {
        number = 0;
        return version.Length > 1 && version[0] == 'v'
            && int.TryParse(version.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }
}
