import QBalloonSimulator
import Testing

struct EpisodeTests {
    @Test func anEpisodeLastsFromItsStartToItsEnd() {
        #expect(Episode(start: 10, end: 12.5, worst: 0).seconds == 2.5)
    }
}
