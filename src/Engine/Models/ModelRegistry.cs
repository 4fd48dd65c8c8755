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
    private const int MaxNameLength = 64;
    private const int MaxCurrentBytes = 256;

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

    /// <summary>
    /// <c>&lt;root&gt;/&lt;bundle&gt;/&lt;version&gt;</c>; throws <see cref="ArgumentException"/> unless the bundle is a plain name
    /// (<see cref="IsBundleName"/>) and the version is <c>v</c> and a number, so no caller can name a folder outside the root.
    /// </summary>
    public string BundleDirectory(string bundle, string version)
    {
        if (!IsBundleName(bundle))
        {
            throw new ArgumentException($"'{bundle}' is not a bundle name (letters, digits, '.', '_', '-'; at most {MaxNameLength}).", nameof(bundle));
        }

        if (!TryParseVersion(version, out _))
        {
            throw new ArgumentException($"'{version}' is not a version (v1, v2, ...).", nameof(version));
        }

        return Path.Combine(Root, bundle, version);
    }

    /// <summary>
    /// The folder of an announced version, or why it may not be loaded: it must exist in this registry, and its real path
    /// (symbolic links resolved, at every level) must lie under the registry root's real path.
    /// </summary>
    public BundleProblem? ResolveBundle(string bundle, string version, out string directory)
    {
        directory = "";
        if (!IsBundleName(bundle) || !TryParseVersion(version, out _))
        {
            return new BundleProblem(BundleFault.Path, $"'{bundle}' '{version}' is not a bundle name and version");
        }

        var candidate = BundleDirectory(bundle, version);
        if (!Directory.Exists(candidate))
        {
            return new BundleProblem(BundleFault.Missing, $"{candidate} does not exist in this registry");
        }

        var realRoot = RealPath(Root);
        var real = RealPath(candidate);
        if (!IsUnder(real, realRoot))
        {
            return new BundleProblem(BundleFault.Path, $"{candidate} resolves to {real}, outside the registry {realRoot}");
        }

        directory = candidate;
        return null;
    }

    /// <summary>
    /// Whether the version an event announces may be served: it is in this registry (<see cref="ResolveBundle"/>), its
    /// manifest names only plain files and is the bundle and version announced, the event's sha256 list is the manifest's,
    /// and every file has that sha256 on disk. The event's own path is never used: it only says where the publisher saw it.
    /// </summary>
    public BundleProblem? CheckAnnounced(ModelPublished published, out string directory, out BundleManifest? manifest)
    {
        manifest = null;
        if (ResolveBundle(published.Name, published.Version, out directory) is { } unresolved)
        {
            return unresolved;
        }

        BundleManifest read;
        try
        {
            read = ReadManifestUnchecked(directory);
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidDataException or UnauthorizedAccessException)
        {
            return new BundleProblem(BundleFault.Manifest, $"manifest unreadable: {ex.Message}");
        }

        if (ManifestPathProblem(read) is { } pathProblem)
        {
            return new BundleProblem(BundleFault.Path, pathProblem);
        }

        if (read.Name != published.Name || read.Version != published.Version)
        {
            return new BundleProblem(BundleFault.Manifest, $"the manifest in {directory} is {read.Name} {read.Version}");
        }

        if (published.Sha256.Count == 0)
        {
            return new BundleProblem(BundleFault.Hash, "the event carries no sha256");
        }

        foreach (var (file, sha) in read.Files)
        {
            if (!published.Sha256.TryGetValue(file, out var announced) || !string.Equals(announced, sha, StringComparison.OrdinalIgnoreCase))
            {
                return new BundleProblem(BundleFault.Hash, $"{file}: the manifest's sha256 differs from the event's");
            }
        }

        if (published.Sha256.Keys.FirstOrDefault(f => !read.Files.ContainsKey(f)) is { } extra)
        {
            return new BundleProblem(BundleFault.Hash, $"{extra}: announced by the event, absent from the manifest");
        }

        if (Verify(directory) is { } problem)
        {
            return new BundleProblem(BundleFault.Hash, problem);
        }

        manifest = read;
        return null;
    }

    public IReadOnlyList<string> Bundles() =>
        Directory.Exists(Root)
            ? [.. Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]
            : [];

    /// <summary>Complete versions of a bundle, oldest first.</summary>
    public IReadOnlyList<string> Versions(string bundle)
    {
        var dir = Path.Combine(Root, bundle);
        if (!IsBundleName(bundle) || !Directory.Exists(dir))
        {
            return [];
        }

        return [.. Directory.GetDirectories(dir)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(v => TryParseVersion(v, out _) && File.Exists(Path.Combine(dir, v, ManifestFile)))
            .OrderBy(v => { TryParseVersion(v, out var n); return n; })];
    }

    /// <summary>The version processors should serve, or null when the bundle has none (or CURRENT names no version folder).</summary>
    public string? CurrentVersion(string bundle)
    {
        if (!IsBundleName(bundle))
        {
            return null;
        }

        var file = Path.Combine(Root, bundle, CurrentFile);
        if (File.Exists(file) && new FileInfo(file).Length <= MaxCurrentBytes)
        {
            // CURRENT is a file anyone with write access to the volume can edit: a version, nothing else, or no current version.
            var version = File.ReadAllText(file).Trim();
            if (TryParseVersion(version, out _) && Directory.Exists(BundleDirectory(bundle, version)))
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

    /// <summary>
    /// Reads and checks a bundle's manifest: every field present, and every file it names (the <c>files</c> map, the
    /// encoder, the vocabulary, each head) a plain file name, so no reader of a manifest opens a file outside the bundle.
    /// Throws <see cref="InvalidDataException"/> for a manifest that breaks either rule.
    /// </summary>
    public static BundleManifest ReadManifest(string bundleDirectory)
    {
        var manifest = ReadManifestUnchecked(bundleDirectory);
        if (ManifestPathProblem(manifest) is { } problem)
        {
            throw new InvalidDataException($"{Path.Combine(bundleDirectory, ManifestFile)}: {problem}.");
        }

        return manifest;
    }

    /// <summary>
    /// A name that is one path segment: not empty, not <c>.</c> or <c>..</c>, no directory separator, drive colon or
    /// control character, at most 255 characters.
    /// </summary>
    public static bool IsPlainFileName(string? name) =>
        name is { Length: > 0 and <= 255 } && name is not ("." or "..")
        && name.IndexOfAny(['/', '\\', ':']) < 0 && !name.Any(char.IsControl)
        && !Path.IsPathRooted(name) && Path.GetFileName(name) == name;

    /// <summary>Bundle names: ASCII letters, digits, <c>.</c>, <c>_</c>, <c>-</c>, starting with a letter or digit.</summary>
    public static bool IsBundleName(string? name) =>
        name is { Length: > 0 and <= MaxNameLength } && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

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
        if (!IsBundleName(bundle))
        {
            throw new ArgumentException($"'{bundle}' is not a bundle name.", nameof(bundle));
        }

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
        var previous = PreviousVersion(bundle);
        SetCurrent(bundle, previous);
        return previous;
    }

    /// <summary>The highest existing version number below the current one; throws when there is none.</summary>
    public string PreviousVersion(string bundle)
    {
        var current = CurrentVersion(bundle) ?? throw new InvalidOperationException($"Bundle {bundle} has no current version in {Root}.");
        TryParseVersion(current, out var currentNumber);
        return Versions(bundle).LastOrDefault(v => TryParseVersion(v, out var n) && n < currentNumber)
            ?? throw new InvalidOperationException($"Bundle {bundle} has no version before {current}.");
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

        // A graph or head that is not in `files` would load without its sha256 checked.
        foreach (var loaded in manifest.Heads.Values.Select(h => h.File).Append(manifest.Encoder.File).OfType<string>())
        {
            if (!manifest.Files.ContainsKey(loaded))
            {
                return $"{loaded} is loaded but has no sha256 in the manifest";
            }
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

    /// <summary>
    /// Checks a bundle's int8 encoder (the manifest's <c>int8Encoder</c>): present, quantised from the bundle's own fp32
    /// encoder, and with its recorded sha256 on disk. Returns the first problem, or null. Kept apart from
    /// <see cref="Verify"/> so a damaged int8 file never stops fp32 serving.
    /// </summary>
    public static string? VerifyInt8(string bundleDirectory, BundleManifest manifest)
    {
        if (manifest.Int8Encoder is not { } int8)
        {
            return "the manifest records no int8 encoder";
        }

        if (int8.SourceSha256 != manifest.Encoder.Sha256)
        {
            return $"the int8 encoder was quantised from {int8.SourceSha256}, the bundle's encoder is {manifest.Encoder.Sha256}";
        }

        var path = Path.Combine(bundleDirectory, int8.File);
        if (!File.Exists(path))
        {
            return $"{int8.File} is missing";
        }

        var actual = FileHash.Sha256(path);
        return actual == int8.Sha256 ? null : $"{int8.File} has sha256 {actual}, manifest says {int8.Sha256}";
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

    /// <summary><c>v</c> and a number (compared as numbers: v10 is after v9).</summary>
    public static bool TryParseVersion(string? version, out int number)
    {
        number = 0;
        return version is { Length: > 1 } && version[0] == 'v'
            && int.TryParse(version.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }

    private static BundleManifest ReadManifestUnchecked(string bundleDirectory)
    {
        var path = Path.Combine(bundleDirectory, ManifestFile);
        using var stream = File.OpenRead(path);
        var manifest = JsonSerializer.Deserialize<BundleManifest>(stream, Json)
            ?? throw new InvalidDataException($"{path} is empty.");

        // `required` only demands that a property is present: JSON null passes it.
        if (manifest.Name is null || manifest.Version is null || manifest.Encoder?.Sha256 is null || manifest.Encoder.Base is null || manifest.Encoder.Vocab is null
            || manifest.Heads is null || manifest.Files is null || manifest.Metrics is null || manifest.Training is null
            || manifest.Heads.Values.Any(h => h is null || h.File is null || h.Kind is null || h.Labels is null || h.Layers is null)
            || manifest.Files.Values.Any(v => v is null)
            || (manifest.Int8Encoder is { } int8 && (int8.File is null || int8.Sha256 is null || int8.SourceSha256 is null || int8.Quantizer is null)))
        {
            throw new InvalidDataException($"{path} has a null where a value is required.");
        }

        return manifest;
    }

    /// <summary>The first file name in <paramref name="manifest"/> that is not a plain name inside the bundle, or null.</summary>
    private static string? ManifestPathProblem(BundleManifest manifest)
    {
        foreach (var file in manifest.Files.Keys)
        {
            if (!IsPlainFileName(file) || file == ManifestFile)
            {
                return $"file '{file}' is not a plain file name in the bundle";
            }
        }

        if (manifest.Encoder.File is { } encoder && !IsPlainFileName(encoder))
        {
            return $"encoder file '{encoder}' is not a plain file name in the bundle";
        }

        if (manifest.Int8Encoder is { } int8 && (!IsPlainFileName(int8.File) || int8.File == ManifestFile))
        {
            return $"int8 encoder file '{int8.File}' is not a plain file name in the bundle";
        }

        if (!IsPlainFileName(manifest.Encoder.Vocab))
        {
            return $"vocabulary file '{manifest.Encoder.Vocab}' is not a plain file name in the bundle";
        }

        foreach (var (task, head) in manifest.Heads)
        {
            if (!IsPlainFileName(head.File))
            {
                return $"head {task} file '{head.File}' is not a plain file name in the bundle";
            }
        }

        return null;
    }

    private static bool IsUnder(string path, string root)
    {
        var prefix = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link on the way resolved (as realpath(3) does): a version folder, a bundle
    /// folder or any folder above that is a link to elsewhere shows where it really is.
    /// </summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var resolved = Path.GetPathRoot(full) ?? "";
        var pending = new Stack<string>();
        Push(pending, full[resolved.Length..]);
        var links = 0;
        while (pending.TryPop(out var segment))
        {
            if (segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                // `resolved` holds no links, so its parent is the real parent.
                resolved = Path.GetDirectoryName(resolved) ?? resolved;
                continue;
            }

            var next = Path.Combine(resolved, segment);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is not { } target)
            {
                resolved = next;
                continue;
            }

            if (++links > 40)
            {
                throw new IOException($"Too many symbolic links under {path}.");
            }

            // The link's target replaces the segment; its own segments are resolved in turn (they may be links too).
            if (Path.IsPathRooted(target))
            {
                resolved = Path.GetPathRoot(target) ?? resolved;
                target = target[resolved.Length..];
            }

            Push(pending, target);
        }

        return resolved;

        static void Push(Stack<string> stack, string relative)
        {
            var parts = relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
            for (var i = parts.Length - 1; i >= 0; i--)
            {
                stack.Push(parts[i]);
            }
        }
    }
}

/// <summary>What is wrong with an announced bundle version (see <see cref="ModelRegistry.CheckAnnounced"/>).</summary>
public enum BundleFault
{
    /// <summary>The version is not in this registry (a shared volume not synced yet, or an event for a bundle never written).</summary>
    Missing,

    /// <summary>A folder or a file name that leads outside the registry or the bundle.</summary>
    Path,

    /// <summary>A sha256 that differs between the event, the manifest and the files.</summary>
    Hash,

    /// <summary>The manifest is unreadable or describes another bundle or version.</summary>
    Manifest,
}

public sealed record BundleProblem(BundleFault Fault, string Message);
