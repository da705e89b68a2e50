"""Docker's generated container names, `adjective_surname`, from moby's pkg/namesgenerator.

Users recognise these names and scripts match them, so the lists and the retry rule are
moby's own (the lists as moby froze them in 2022).
"""

from __future__ import annotations

import random
from collections.abc import Collection

from layerlab.errors import LayerlabError

ADJECTIVES = """admiring adoring affectionate agitated amazing angry awesome beautiful blissful
bold boring brave busy charming clever compassionate competent condescending confident cool
cranky crazy dazzling determined distracted dreamy eager ecstatic elastic elated elegant
eloquent epic exciting fervent festive flamboyant focused friendly frosty funny gallant gifted
goofy gracious great happy hardcore heuristic hopeful hungry infallible inspiring intelligent
interesting jolly jovial keen kind laughing loving lucid magical modest musing mystifying
naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic pensive practical
priceless quirky quizzical recursing relaxed reverent romantic sad serene sharp silly sleepy
stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat vibrant
vigilant vigorous wizardly wonderful xenodochial youthful zealous zen""".split()

# Notable scientists and hackers.
SURNAMES = """agnesi albattani allen almeida antonelli archimedes ardinghelli aryabhata austin
babbage banach banzai bardeen bartik bassi beaver bell benz bhabha bhaskara black blackburn
blackwell bohr booth borg bose bouman boyd brahmagupta brattain brown buck burnell cannon carson
cartwright carver cerf chandrasekhar chaplygin chatelet chatterjee chaum chebyshev clarke cohen
colden cori cray curran curie darwin davinci dewdney dhawan diffie dijkstra dirac driscoll
dubinsky easley edison einstein elbakyan elgamal elion ellis engelbart euclid euler faraday
feistel fermat fermi feynman franklin gagarin galileo galois ganguly gates gauss germain
goldberg goldstine goldwasser golick goodall gould greider grothendieck haibt hamilton haslett
hawking heisenberg hellman hermann herschel hertz heyrovsky hodgkin hofstadter hoover hopper
hugle hypatia ishizaka jackson jang jemison jennings jepsen johnson joliot jones kalam kapitsa
kare keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr lamport
leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira margulis
matsumoto maxwell mayer mccarthy mcclintock mclaren mclean mcnulty meitner mendel mendeleev
meninsky merkle mestorf mirzakhani montalcini moore morse moser murdock napier nash neumann
newton nightingale nobel noether northcutt noyce panini pare pascal pasteur payne perlman pike
poincare poitras proskuriakova ptolemy raman ramanujan rhodes ride ritchie robinson roentgen
rosalind rubin saha sammet sanderson satoshi shamir shannon shaw shirley shockley shtern
sinoussi snyder solomon spence stonebraker sutherland swanson swartz swirles taussig tesla
tharp thompson torvalds tu turing varahamihira vaughan villani visvesvaraya volhard wescoff
wilbur wiles williams williamson wilson wing wozniak wright wu yalow yonath zhukovsky""".split()

# Moby gives up after 6 tries and names the container after its short ID instead; this
# function has no ID, so it keeps trying: ~280,000 names make exhaustion theoretical.
_MAX_TRIES = 1000


def _random_name(retry: int, rng: random.Random) -> str:
    """moby's GetRandomName: after the first try a digit 0-9 is appended."""
    while True:
        name = f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
        if name != "boring_wozniak":  # Steve Wozniak is not boring
            break
    return name + str(rng.randint(0, 9)) if retry > 0 else name


def generate_name(taken: Collection[str], rng: random.Random | None = None) -> str:
    """A name not in `taken`, drawn the way moby's daemon draws one for `docker run`."""
    rng = rng if rng is not None else random.Random()
    for retry in range(_MAX_TRIES):
        name = _random_name(retry, rng)
        if name not in taken:
            return name
    raise LayerlabError("could not generate a unique container name")
