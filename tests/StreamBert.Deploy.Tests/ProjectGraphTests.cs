using System.Xml.Linq;

namespace StreamBert.Deploy.Tests;

/// <summary>
/// The trainer image is built and shipped without the processor, and each project references only what it uses:
/// read from the project files, transitively, as <c>dotnet publish</c> would follow them.
/// </summary>
public sealed class ProjectGraphTests
{
    private static readonly string Src = Path.Combine(DeployFiles.RepositoryRoot, "src");

    [Fact]
    public void Trainer_DoesNotDependOnTheProcessor()
    {
        var closure = Closure("Trainer");

        Assert.DoesNotContain("Processor", closure);
        Assert.Contains("Service", closure);
        Assert.Contains("Training", closure);
    }

    [Fact]
    public void Training_ReferencesNeitherKafkaNorTheServices()
    {
        var closure = Closure("Training");

        Assert.DoesNotContain("Kafka", closure);
        Assert.DoesNotContain("Service", closure);
        Assert.DoesNotContain("Processor", closure);
    }

    [Fact]
    public void Service_IsBelowBothServices()
    {
        Assert.Equal(["Contracts"], Closure("Service"));
        Assert.Contains("Service", Closure("Processor"));
    }

    /// <summary>Project folder names under src/ that <paramref name="project"/> reaches through project references.</summary>
    private static SortedSet<string> Closure(string project)
    {
        var seen = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(References(project));
        while (pending.TryPop(out var next))
        {
            if (seen.Add(next))
            {
                foreach (var reference in References(next))
                {
                    pending.Push(reference);
                }
            }
        }

        return seen;
    }

    private static IEnumerable<string> References(string project)
    {
        var file = Path.Combine(Src, project, $"StreamBert.{project}.csproj");
        Assert.True(File.Exists(file), $"{file} is missing");
        return XDocument.Load(file).Descendants("ProjectReference")
            .Select(r => (string?)r.Attribute("Include") ?? "")
            .Select(include => Path.GetFileName(Path.GetDirectoryName(include.Replace('\\', '/')))!)
            .ToList();
    }
}
