using System.Globalization;

namespace StreamBert.Cli.Bench;

/// <summary>
/// CPU time of this process's threads, grouped by thread name with digits dropped (<c>rdk:broker1</c> and
/// <c>rdk:broker2</c> are one group), from <c>/proc/self/task/*/stat</c>. Stages that run on the thread pool share the
/// <c>.NET TP Worker</c> group; the engine and ingest threads, librdkafka's threads (<c>rdk:*</c>: the processor's clients,
/// the embedded broker and the bench's own) and the GC are told apart. Resolution is the kernel's clock tick (10 ms).
/// Empty where there is no /proc.
/// </summary>
internal static class ThreadCpu
{
    public static Dictionary<string, double> Sample()
    {
        var groups = new Dictionary<string, double>(StringComparer.Ordinal);
        const double ticksPerSecond = 100;
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories("/proc/self/task");
        }
        catch (IOException)
        {
            return groups;
        }
        catch (UnauthorizedAccessException)
        {
            return groups;
        }

        foreach (var task in tasks)
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }

            // pid (comm) state ... : comm may hold spaces and parentheses, so split after the last ')'.
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            if (open < 0 || close < open)
            {
                continue;
            }

            var name = new string([.. stat[(open + 1)..close].Where(c => !char.IsAsciiDigit(c))]).Trim();
            var fields = stat[(close + 2)..].Split(' ');

            // After the comm: state is field 3 of stat(5), utime 14 and stime 15, so indexes 11 and 12 here.
            if (fields.Length > 12
                && long.TryParse(fields[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out var user)
                && long.TryParse(fields[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out var system))
            {
                groups[name] = groups.GetValueOrDefault(name) + ((user + system) / ticksPerSecond);
            }
        }

        return groups;
    }

    /// <summary>CPU seconds per group between two samples (threads that ended in between are lost; new ones count from 0).</summary>
    public static Dictionary<string, double> Delta(Dictionary<string, double> before, Dictionary<string, double> after)
    {
        var delta = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, seconds) in after)
        {
            var used = seconds - before.GetValueOrDefault(name);
            if (used > 0)
            {
                delta[name] = used;
            }
        }

        return delta;
    }
}
