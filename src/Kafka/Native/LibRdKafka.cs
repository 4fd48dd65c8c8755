using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace StreamBert.Kafka.Native;

/// <summary>
/// Routes P/Invoke declarations named <c>librdkafka</c> to the very librdkafka binary that
/// Confluent.Kafka loaded, so the mock-cluster calls and the Kafka clients share one library.
/// </summary>
/// <remarks>
/// Confluent.Kafka picks its binary at run time: on Debian 12 the default
/// <c>runtimes/linux-x64/native/librdkafka.so</c> fails to load (it needs <c>libsasl2.so.3</c>) and
/// it silently falls back to <c>centos8-librdkafka.so</c>. Plain <c>[DllImport("librdkafka")]</c>
/// would try the broken default, so the path is read back from <c>/proc/self/maps</c> after
/// Confluent.Kafka has loaded it. Safe to call from any thread and for several assemblies; each
/// assembly's resolver is installed once.
/// </remarks>
public static class LibRdKafka
{
    /// <summary>The library name P/Invoke declarations use; the resolver answers only this name.</summary>
    public const string ImportName = "librdkafka";

    private static readonly Lazy<LoadedLibrary> Loaded = new(LoadSharedWithConfluent, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly HashSet<Assembly> Routed = [];
    private static readonly Lock RouteLock = new();

    /// <summary>Absolute path of the loaded librdkafka binary (loads it on first use).</summary>
    public static string Path => Loaded.Value.Path;

    /// <summary>
    /// Makes every <c>librdkafka</c> import of <paramref name="assembly"/> bind to <see cref="Path"/>.
    /// Idempotent per assembly.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another resolver was already installed for the assembly.</exception>
    public static void RouteImports(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var handle = Loaded.Value.Handle;

        // The lock, not just a concurrent set: a second caller must not run an import before the
        // first caller has finished installing the resolver.
        lock (RouteLock)
        {
            if (!Routed.Add(assembly))
            {
                return;
            }

            NativeLibrary.SetDllImportResolver(
                assembly,
                (name, _, _) => name == ImportName ? handle : IntPtr.Zero);
        }
    }

    private static LoadedLibrary LoadSharedWithConfluent()
    {
        Library.Load();

        var path = FindMappedLibrary();
        if (path is null)
        {
            // No /proc (macOS, Windows): there the default native asset loads, so ask the runtime
            // for it the way Confluent.Kafka's own assembly would.
            var handle = NativeLibrary.Load(ImportName, typeof(Library).Assembly, null);
            return new LoadedLibrary(ImportName, handle);
        }

        return new LoadedLibrary(path, NativeLibrary.Load(path));
    }

    private static string? FindMappedLibrary()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps))
        {
            return null;
        }

        foreach (var line in File.ReadLines(maps))
        {
            // Format: address perms offset dev inode [path]; the path is the last field.
            var slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                continue;
            }

            var path = line[slash..];
            var fileName = System.IO.Path.GetFileName(path);
            // librdkafka.so, centos8-librdkafka.so, alpine-librdkafka.so, or a versioned librdkafka.so.1.
            if (fileName.EndsWith("librdkafka.so", StringComparison.Ordinal) || fileName.Contains("librdkafka.so.", StringComparison.Ordinal))
            {
                return path;
            }
        }

        throw new DllNotFoundException(
            $"Confluent.Kafka reported librdkafka loaded, but no librdkafka is mapped in {maps}.");
    }

    private sealed record LoadedLibrary(string Path, IntPtr Handle);
}
