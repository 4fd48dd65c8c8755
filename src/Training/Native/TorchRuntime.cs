using System.Runtime.InteropServices;
using TorchSharp;

namespace StreamBert.Training.Native;

/// <summary>
/// The one door to TorchSharp: every TorchSharp user calls <see cref="EnsureLoaded"/> first.
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp 0.107.0's <c>libLibTorchSharp.so</c> is built with GCC 13 and requires <c>GLIBCXX_3.4.32</c>, which
/// Debian 12's libstdc++ (3.4.30) lacks, so the loader refuses it. Exactly one symbol carries that version,
/// <c>std::ios_base_library_init()</c>, a GCC 13 iostream marker with no relocation behind it; LibTorch itself needs
/// only 3.4.26. Where the system lacks the version, the copy of the library in the build output gets that single
/// version-needed entry marked weak (<see cref="ElfVersionNeeds"/>), which the loader then tolerates. The NuGet cache
/// is never touched. Re-check on each TorchSharp upgrade: a newer build may need symbols that really are missing.
/// </para>
/// <para>
/// The patched file is written beside the original and renamed over it, so a concurrent process sees either the old
/// or the new library, never half of one; a process that already mapped the old one keeps its (unlinked) copy.
/// </para>
/// </remarks>
public static class TorchRuntime
{
    /// <summary>The version the shipped library requires and Debian 12 lacks.</summary>
    public const string MissingCxxVersion = "GLIBCXX_3.4.32";

    private const string LibraryFile = "libLibTorchSharp.so";

    private static readonly Lock Gate = new();
    private static bool _loaded;

    /// <summary>
    /// Makes TorchSharp loadable on this machine (patching the build output's copy if needed, logged once) and
    /// initialises it. Safe to call any number of times from any thread.
    /// </summary>
    /// <param name="log">Receives one line when the library is patched or found already patched.</param>
    /// <exception cref="InvalidOperationException">TorchSharp could not be loaded; the message says why.</exception>
    public static void EnsureLoaded(TextWriter? log = null)
    {
        lock (Gate)
        {
            if (_loaded)
            {
                return;
            }

            if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 && !SystemHasCxxVersion(MissingCxxVersion))
            {
                foreach (var library in LibraryCandidates().Where(File.Exists))
                {
                    var changed = PatchFile(library, MissingCxxVersion);
                    log?.WriteLine(changed
                        ? $"TorchSharp: marked {MissingCxxVersion} weak in {library} (the system libstdc++ lacks it; only std::ios_base_library_init needs it)"
                        : $"TorchSharp: {library} already tolerates the missing {MissingCxxVersion}");
                }
            }

            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception ex) when (ex is NotSupportedException or DllNotFoundException or TypeInitializationException)
            {
                throw new InvalidOperationException(
                    $"TorchSharp could not be loaded from {AppContext.BaseDirectory}: {ex.Message}", ex);
            }

            _loaded = true;
        }
    }

    /// <summary>
    /// For module constructors: <c>base(TorchRuntime.Ready(name))</c> loads TorchSharp before the base constructor
    /// creates the native module, which a call in the constructor body would be too late for.
    /// </summary>
    internal static string Ready(string moduleName)
    {
        EnsureLoaded();
        return moduleName;
    }

    /// <summary>CUDA when LibTorch sees a usable GPU (only with a CUDA LibTorch package), else the CPU.</summary>
    public static torch.Device DefaultDevice
    {
        get
        {
            EnsureLoaded();
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }
    }

    /// <summary>
    /// Marks <paramref name="version"/> weak in the library at <paramref name="path"/> (temp file + atomic rename).
    /// Returns false, writing nothing, when it already was.
    /// </summary>
    public static bool PatchFile(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        if (ElfVersionNeeds.MarkWeak(bytes, version) == 0)
        {
            return false;
        }

        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, File.GetUnixFileMode(path));
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }

        return true;
    }

    /// <summary>Whether a libstdc++ the loader would find defines <paramref name="version"/>.</summary>
    public static bool SystemHasCxxVersion(string version)
    {
        var needle = System.Text.Encoding.ASCII.GetBytes(version + "\0");
        foreach (var path in SystemLibStdCxx())
        {
            try
            {
                if (File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0)
                {
                    return true;
                }
            }
            catch (IOException)
            {
                // An unreadable candidate says nothing either way; the next one may.
            }
        }

        return false;
    }

    // Where TorchSharp's loader finds the library: the RID folder of a framework-dependent build, or beside the
    // assemblies in a RID-specific build or publish.
    private static IEnumerable<string> LibraryCandidates() =>
    [
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", LibraryFile),
        Path.Combine(AppContext.BaseDirectory, LibraryFile),
    ];

    private static IEnumerable<string> SystemLibStdCxx()
    {
        string[] known =
        [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        ];
        var found = known.Where(File.Exists).ToList();
        if (found.Count > 0)
        {
            return found;
        }

        // Unusual layouts: ask the loader's cache, as the loader itself would.
        try
        {
            using var ldconfig = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ldconfig", "-p")
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            });
            if (ldconfig is null)
            {
                return [];
            }

            var output = ldconfig.StandardOutput.ReadToEnd();
            ldconfig.WaitForExit();
            return output.Split('\n')
                .Where(l => l.TrimStart().StartsWith("libstdc++.so.6 ", StringComparison.Ordinal) && l.Contains("x86-64", StringComparison.Ordinal))
                .Select(l => l[(l.LastIndexOf("=> ", StringComparison.Ordinal) + 3)..].Trim())
                .Where(File.Exists)
                .ToList();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return [];
        }
    }
}
