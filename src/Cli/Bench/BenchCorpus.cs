using StreamBert.Training.Data;

namespace StreamBert.Cli.Bench;

/// <summary>The SMS Spam Collection texts in file order, cycled to the requested count: its real length distribution.</summary>
internal static class BenchCorpus
{
    public static IReadOnlyList<string> Load(string smsPath, int count)
    {
        var all = SpamDataReader.Read(smsPath).Select(t => t.Text).ToList();
        if (all.Count == 0)
        {
            throw new InvalidDataException($"{smsPath} holds no messages.");
        }

        return Enumerable.Range(0, count).Select(i => all[i % all.Count]).ToList();
    }
}
