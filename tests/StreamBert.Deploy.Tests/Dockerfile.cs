namespace StreamBert.Deploy.Tests;

/// <summary>One instruction of a Dockerfile, continuation lines joined, with the stage it belongs to.</summary>
public sealed record DockerInstruction(string Keyword, string Arguments, int Stage, int Line);

/// <summary>A Dockerfile read into instructions and stages: just enough syntax for structural checks.</summary>
public sealed class Dockerfile
{
    private Dockerfile(string path, IReadOnlyList<DockerInstruction> instructions, IReadOnlyList<string?> stageNames)
    {
        Path = path;
        Instructions = instructions;
        StageNames = stageNames;
    }

    public string Path { get; }

    public IReadOnlyList<DockerInstruction> Instructions { get; }

    /// <summary>Name of each stage in order (<c>FROM image AS name</c>), null for an unnamed one.</summary>
    public IReadOnlyList<string?> StageNames { get; }

    public IEnumerable<DockerInstruction> Where(string keyword) =>
        Instructions.Where(i => string.Equals(i.Keyword, keyword, StringComparison.OrdinalIgnoreCase));

    /// <summary>The image of each stage's FROM, as written (ARGs not substituted).</summary>
    public IReadOnlyList<string> BaseImages => Where("FROM").Select(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]).ToList();

    public static Dockerfile Load(string path)
    {
        var instructions = new List<DockerInstruction>();
        var stages = new List<string?>();
        var pending = "";
        var startLine = 0;
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
            {
                continue;
            }

            if (pending.Length > 0 && line.StartsWith('#'))
            {
                // Comment lines inside a continued instruction are dropped by Docker too.
                continue;
            }

            if (pending.Length == 0)
            {
                startLine = lineNumber;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var text = (pending + line).Trim();
            pending = "";
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? text : text[..space]).ToUpperInvariant();
            var arguments = space < 0 ? "" : text[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var words = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var asIndex = Array.FindIndex(words, w => w.Equals("AS", StringComparison.OrdinalIgnoreCase));
                stages.Add(asIndex >= 0 && asIndex + 1 < words.Length ? words[asIndex + 1] : null);
            }

            instructions.Add(new DockerInstruction(keyword, arguments, stages.Count - 1, startLine));
        }

        return new Dockerfile(path, instructions, stages);
    }
}
